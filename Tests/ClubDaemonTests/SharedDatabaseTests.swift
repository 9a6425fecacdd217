import ClubClient
import ClubTestKit
import Foundation
import JSON
import Testing
import ZMQ

/// Several clubd on one PostgreSQL database: one holds the work lease and does the work, the
/// others stand by and relay their endpoints to it. Killed, paused or stopped, the holder's work
/// moves to a standby; every acknowledged event is booked exactly once (the independent oracle:
/// what the test was told was acknowledged), and a holder that lost its lease writes nothing more.
@Suite(.serialized, .enabled(if: PostgresServer.shared != nil, "\(PostgresServer.unavailableReason)"))
struct SharedDatabaseTests {
    static let leaseSeconds = 2

    /// Instances named `names` on one new database of the shared test server.
    static func instances(_ names: [String]) throws -> [(daemon: DaemonProcess, flags: [String])] {
        guard let server = PostgresServer.shared else { throw TestKitError(PostgresServer.unavailableReason) }
        let database = try server.createDatabase()
        return try names.map { name in
            let daemon = try DaemonProcess(database: database)
            let config = daemon.directory.appendingPathComponent("clubd.yaml")
            try "storage: {lease_s: \(leaseSeconds), instance: \(name), postgres: {connect_timeout: 3s}}\n".write(
                to: config, atomically: true, encoding: .utf8)
            return (daemon, ["--config", config.path] + (try daemon.writeBonusRules(StorageFaultTests.rules)))
        }
    }

    /// The instance answering `daemon`'s command socket (itself, or the holder it relays to).
    static func answering(_ daemon: DaemonProcess, timeout: Int = 1000) -> String? {
        (try? daemon.request(["op": "health"], timeout: timeout))?["storage"]?["instance"]?.stringValue
    }

    /// Waits until `daemon`'s command socket is answered by `instance`.
    static func waitUntilAnswered(_ daemon: DaemonProcess, by instance: String, within seconds: Double) throws -> Double {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if answering(daemon, timeout: 250) == instance { return Date().timeIntervalSince(start) }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestKitError("\(instance) did not answer within \(seconds) s (answering: \(answering(daemon) ?? "nobody"))")
    }

    /// Submits `batches` batches of 50 through `daemon`, each resent until it is acknowledged
    /// (the holder may die under it): a resend is answered `accepted` or `duplicates`, whole.
    /// - Returns: seconds until the first batch was acknowledged.
    @discardableResult
    static func submit(through daemon: DaemonProcess, _ submitted: inout StorageFaultTests.Submitted, batches: Int) throws -> Double {
        let start = Date()
        var firstAcknowledged: Double?
        for _ in 0..<batches {
            let (ids, body) = StorageFaultTests.nextBatch(&submitted)
            let deadline = Date().addingTimeInterval(60)
            while true {
                guard Date() < deadline else { throw TestKitError("a batch was not acknowledged within 60 s") }
                guard let reply = try? daemon.request(bytes: Array(body.utf8), timeout: 2_000) else { continue }
                if reply["ok"] == .bool(true) {
                    let accepted = reply["accepted"]?.int64Value ?? 0
                    let duplicates = reply["duplicates"]?.int64Value ?? 0
                    #expect(accepted + duplicates == 50, "a batch is one transaction: \(reply)")
                    for (id, user) in ids { submitted.acknowledged[user, default: []].insert(id) }
                    firstAcknowledged = firstAcknowledged ?? Date().timeIntervalSince(start)
                    break
                }
                #expect(reply["error"]?["code"] == "storage_failed", "\(reply)")
                submitted.refused += 1
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        return firstAcknowledged ?? 0
    }

    @Test func aKilledHolderHandsItsWorkToAStandbyAndNothingIsLostOrCountedTwice() throws {
        let trio = try Self.instances(["a", "b", "c"])
        let (a, b, c) = (trio[0].daemon, trio[1].daemon, trio[2].daemon)
        defer { trio.forEach { $0.daemon.kill() } }
        try a.start(extraArguments: trio[0].flags)
        try b.launch(extraArguments: trio[1].flags)
        try c.launch(extraArguments: trio[2].flags)
        // The standbys relay every endpoint to the holder.
        _ = try Self.waitUntilAnswered(b, by: "a", within: 20)
        _ = try Self.waitUntilAnswered(c, by: "a", within: 20)
        let firstToken = try a.request(["op": "health"])["storage"]?["lease_token"]?.int64Value ?? 0
        #expect(firstToken > 0)
        // health lists every instance with its role (as of the holder's last renewal).
        let deadline = Date().addingTimeInterval(10)
        var roles: [String: String] = [:]
        while roles != ["a": "holder", "b": "standby", "c": "standby"], Date() < deadline {
            let seen = try b.request(["op": "health"])["storage"]?["instances"]?.arrayValue ?? []
            roles = Dictionary(seen.compactMap { i in i["instance"]?.stringValue.map { ($0, i["role"]?.stringValue ?? "") } }, uniquingKeysWith: { a, _ in a })
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(roles == ["a": "holder", "b": "standby", "c": "standby"])
        let bonus = try c.subscriber("bonus.")
        var submitted = StorageFaultTests.Submitted()
        try Self.submit(through: b, &submitted, batches: 10)
        let published = try bonus.receive(count: 10, timeout: 10_000)
        #expect(published.count == 10, "bonus.<user> published by the holder reaches a standby's subscribers")
        let push = try c.pusher()
        for n in 0..<20 { try push.send(Array(EndToEndTests.telemetry(EndToEndTests.t0 + Int64(n) * 1000, Double(n * 10)).utf8)) }
        try a.waitFor("samples_processed", 20, timeout: 20)  // pushed to a standby, windowed by the holder

        a.kill()
        let killed = Date()
        let failover = try Self.submit(through: b, &submitted, batches: 10)
        print("shared database: first submit acknowledged \(failover) s after the holder was killed (lease_s \(Self.leaseSeconds))")
        #expect(failover < Double(Self.leaseSeconds) + 15)
        let holder = try #require(Self.answering(b, timeout: 5000))
        #expect(holder == "b" || holder == "c")
        _ = try Self.waitUntilAnswered(c, by: holder, within: 10)  // throws when c is not answered by the new holder
        let token = try b.request(["op": "health"])["storage"]?["lease_token"]?.int64Value ?? 0
        #expect(token > firstToken, "every take-over raises the fencing token")
        try Self.submit(through: c, &submitted, batches: 10)
        // A client given every instance is answered by the live ones, the dead one skipped.
        let client = CommandClient(context: ZMQContext(), endpoint: [a.command, b.command, c.command].joined(separator: ","), timeout: 3000, retries: 3)
        for _ in 0..<6 { #expect(try client.request(["op": "health"])["storage"]?["instance"]?.stringValue == holder) }
        #expect(client.resends == 0, "a dead instance is not sent requests")
        _ = try StorageFaultTests.waitUntilCaughtUp(b, within: 30)
        print("shared database: stages caught up \(Date().timeIntervalSince(killed)) s after the kill")
        #expect(submitted.total == 1_500)
        try StorageFaultTests.expectLedgerHolds(submitted, b)
        try StorageFaultTests.expectLedgerHolds(submitted, c)
    }

    @Test func holdersKilledOneAfterAnotherUnderLoadLoseNothingAndCountNothingTwice() throws {
        let names = ["a", "b", "c"]
        let trio = try Self.instances(names)
        defer { trio.forEach { $0.daemon.kill() } }
        try trio[0].daemon.start(extraArguments: trio[0].flags)
        for i in 1...2 { try trio[i].daemon.launch(extraArguments: trio[i].flags) }
        _ = try Self.waitUntilAnswered(trio[1].daemon, by: "a", within: 20)
        var submitted = StorageFaultTests.Submitted()
        var tokens: [Int64] = []
        for round in 0..<3 {
            // Whoever holds the lease now is killed while submits go on through another instance.
            let holder = try #require(Self.answering(trio[(round + 1) % 3].daemon, timeout: 5000))
            let h = try #require(names.firstIndex(of: holder))
            let other = trio[(h + 1) % 3].daemon
            tokens.append(try other.request(["op": "health"])["storage"]?["lease_token"]?.int64Value ?? 0)
            try Self.submit(through: other, &submitted, batches: 4)
            trio[h].daemon.kill()
            try Self.submit(through: other, &submitted, batches: 4)
            try trio[h].daemon.launch(extraArguments: trio[h].flags)  // back, as a standby
        }
        let any = trio[0].daemon
        _ = try StorageFaultTests.waitUntilCaughtUp(any, within: 30)
        #expect(tokens == tokens.sorted() && Set(tokens).count == 3, "three holders in turn, each with a higher token: \(tokens)")
        #expect(submitted.total == 1_200)
        try StorageFaultTests.expectLedgerHolds(submitted, any)
    }

    @Test func aPausedHolderThatLostItsLeaseWritesNothingMoreAndExits() throws {
        let pair = try Self.instances(["a", "b"])
        let (a, b) = (pair[0].daemon, pair[1].daemon)
        defer { pair.forEach { $0.daemon.kill() } }
        try a.start(extraArguments: pair[0].flags)
        try b.launch(extraArguments: pair[1].flags)
        _ = try Self.waitUntilAnswered(b, by: "a", within: 20)
        var submitted = StorageFaultTests.Submitted()
        try Self.submit(through: b, &submitted, batches: 5)

        // Stopped dead, connections open: its lease runs out and b takes the work.
        a.pause()
        let moved: Double
        do {
            moved = try Self.waitUntilAnswered(b, by: "b", within: Double(Self.leaseSeconds) + 15)
        } catch {
            print("the standby's log ends:\n\(b.log.suffix(3000))")
            throw error
        }
        print("shared database: a paused holder's work moved after \(moved) s (lease_s \(Self.leaseSeconds))")
        try Self.submit(through: b, &submitted, batches: 5)
        a.resume()
        // Its renewal finds another token: it exits; whatever it had under way is fenced off.
        let status = a.waitForExit(within: Double(Self.leaseSeconds) + 10)
        #expect(status == 1, "a holder that lost its lease must exit (status \(String(describing: status)))")
        #expect(a.log.contains("lease lost"))

        // Back as a standby; a graceful stop of the holder hands the lease over at once.
        try a.launch(extraArguments: pair[0].flags)
        _ = try Self.waitUntilAnswered(a, by: "b", within: 20)
        // A reload asked of a standby does not end it (SIGHUP's default), and the definitions it
        // runs are read when it takes the lease: a rule added meanwhile is there.
        try a.writeBonusRules(StorageFaultTests.rules + "\n  - {id: extra, on: club.extra, points: 5}\n")
        a.hangUp()
        Thread.sleep(forTimeInterval: 0.5)
        #expect(a.waitForExit(within: 0.1) == nil, "a standby must survive SIGHUP")
        try Self.submit(through: a, &submitted, batches: 5)
        _ = try StorageFaultTests.waitUntilCaughtUp(b, within: 30)
        #expect(b.terminate() == 0)
        let handedOver = try Self.waitUntilAnswered(a, by: "a", within: 15)
        print("shared database: a stopped holder's lease taken over after \(handedOver) s")
        #expect(a.log.contains("bonus rules: 2"), "the definitions as they were when the lease was taken")
        #expect(handedOver < 10)
        try Self.submit(through: a, &submitted, batches: 5)
        _ = try StorageFaultTests.waitUntilCaughtUp(a, within: 30)
        #expect(submitted.total == 1_000)
        try StorageFaultTests.expectLedgerHolds(submitted, a)
    }
}
