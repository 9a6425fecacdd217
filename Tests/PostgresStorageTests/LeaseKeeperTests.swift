import ClubKernel
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

    static func keepers(_ names: [String], duration: Duration, url given: PostgresURL? = nil) async throws -> [LeaseKeeper] {
        let url = try given ?? PostgresURL(try PostgresServer.shared!.createDatabase())
        var keepers: [LeaseKeeper] = []
        for name in names {
            keepers.append(try await LeaseKeeper(url: url, instance: name, duration: duration, endpoints: endpoints, logger: Logger(label: "test")))
        }
        return keepers
    }

    @Test func aKeptLeaseOutlivesItsDurationAndIsFreeOnceItRunsOut() async throws {
        let k = try await Self.keepers(["a", "b"], duration: .seconds(2))
        #expect(try await k[0].tryTake())
        k[0].startKeeping()  // as the daemon does before restoring its state
        try await Task.sleep(for: .milliseconds(5_000))
        #expect(try await !k[1].tryTake(), "renewed: still a's after 2.5 leases")
        let holder = try #require(try await k[1].holder())
        #expect(holder.instance == "a" && holder.remaining > .zero && holder.endpoints == Self.endpoints)
        k[0].stopKeeping()
        #expect(await k[0].kept() == .cancelled)
        #expect(try await k[1].holder()?.remaining ?? .zero > .zero, "the last renewal's lease still runs")
        let stopped = ContinuousClock.now
        while try await !k[1].tryTake() {
            guard ContinuousClock.now - stopped < .seconds(15) else { throw TestKitError("b never took the lease") }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(k[1].token == 2)
        await k[1].release()
        #expect(try await k[0].tryTake(), "released: free at once")
        k.forEach { $0.close() }
    }

    @Test func aHolderThatWasTakenOverLearnsItAtItsNextRenewal() async throws {
        let url = try PostgresURL(try PostgresServer.shared!.createDatabase())
        let k = try await Self.keepers(["a", "b"], duration: .seconds(1), url: url)
        let store = try await PostgresStore(url: url, connections: 2, logger: Logger(label: "test"), lease: k[0])
        #expect(try await k[0].tryTake())
        k[0].startKeeping()  // however slow this machine is, a's until it stops renewing
        try await store.commitOffset("feed", 1)  // held: written
        k[0].stopKeeping()  // a "paused": no renewals, the lease runs out and b takes it
        let deadline = ContinuousClock.now + .seconds(15)
        while try await !k[1].tryTake() {
            guard ContinuousClock.now < deadline else { throw TestKitError("b never took the lease") }
            try await Task.sleep(for: .milliseconds(100))
        }
        // a still believes it holds the lease (token set): the server-side check refuses every write.
        #expect(k[0].token != nil)
        await #expect(throws: PostgresStoreError.self) { try await store.commitOffset("feed", 2) }
        await #expect(throws: PostgresStoreError.self) { try await store.commitConsumer("training", offset: 2, state: [1]) }
        await #expect(throws: PostgresStoreError.self) { try await store.commitBonus(position: 2, entries: [], accounts: ["u": [1]], lotChanges: []) }
        await #expect(throws: PostgresStoreError.self) { try await store.commitOffers(position: 2, offers: [], facts: ["u": [1]], occurrences: [:]) }
        await #expect(throws: PostgresStoreError.self) {
            try await store.appendActivity([ActivityEvent(id: "x", type: "club.visited", user: "u", at: 1, json: Array(#"{"id":"x"}"#.utf8))], receivedAt: 1)
        }
        #expect(try await store.consumerOffset("feed") == 1, "nothing written after the take-over")
        #expect(try await store.activity(after: 0, limit: 10).isEmpty)
        await store.close()
        k[0].startKeeping()
        #expect(await k[0].kept() == .lost)
        #expect(k[0].token == nil, "a lost lease is not written under")
        #expect(try await k[0].holder()?.instance == "b")
        k.forEach { $0.close() }
    }
}
