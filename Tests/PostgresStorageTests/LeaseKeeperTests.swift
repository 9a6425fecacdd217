import ClubTestKit
import Foundation
import Logging
import PostgresStorage
import Testing

/// The work lease on a real server: renewed from the moment it is taken, free once it runs out,
/// and lost — with the token fenced off — when another instance took it meanwhile.
@Suite(.enabled(if: PostgresServer.shared != nil, "\(PostgresServer.unavailableReason)"))
struct LeaseKeeperTests {
    static let endpoints = LeaseEndpoints(ingest: "ipc://i", command: "ipc://c", publish: "ipc://p")

    static func keepers(_ names: [String], duration: Duration) async throws -> [LeaseKeeper] {
        let url = try PostgresURL(try PostgresServer.shared!.createDatabase())
        var keepers: [LeaseKeeper] = []
        for name in names {
            keepers.append(try await LeaseKeeper(url: url, instance: name, duration: duration, endpoints: endpoints, logger: Logger(label: "test")))
        }
        return keepers
    }

    @Test func aKeptLeaseOutlivesItsDurationAndIsFreeOnceItRunsOut() async throws {
        let k = try await Self.keepers(["a", "b"], duration: .seconds(1))
        #expect(try await k[0].tryTake())
        k[0].startKeeping()  // as the daemon does before restoring its state
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(try await !k[1].tryTake(), "renewed: still a's after 2.5 leases")
        let holder = try #require(try await k[1].holder())
        #expect(holder.instance == "a" && holder.remaining > .zero && holder.endpoints == Self.endpoints)
        k[0].stopKeeping()
        #expect(await k[0].kept() == .cancelled)
        try await Task.sleep(for: .milliseconds(1_300))
        #expect(try await k[1].tryTake(), "no renewals: free once it ran out")
        #expect(k[1].token == 2)
        await k[1].release()
        #expect(try await k[0].tryTake(), "released: free at once")
        k.forEach { $0.close() }
    }

    @Test func aHolderThatWasTakenOverLearnsItAtItsNextRenewal() async throws {
        let k = try await Self.keepers(["a", "b"], duration: .seconds(1))
        #expect(try await k[0].tryTake())
        try await Task.sleep(for: .milliseconds(1_200))  // a "paused": no renewals, the lease ran out
        #expect(try await k[1].tryTake())
        k[0].startKeeping()
        #expect(await k[0].kept() == .lost)
        #expect(k[0].token == nil, "a lost lease is not written under")
        #expect(try await k[0].holder()?.instance == "b")
        k.forEach { $0.close() }
    }
}
