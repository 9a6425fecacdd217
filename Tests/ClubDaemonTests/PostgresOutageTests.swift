import ClubTestKit
import Foundation
import JSON
import Testing

/// The PostgreSQL server goes away under a running daemon and comes back: submits are refused
/// with `storage_failed` meanwhile (never acknowledged without being durable), every stage
/// resumes by itself afterwards, and each acknowledged event is booked exactly once.
@Suite(.serialized, .enabled(if: PostgresServer.shared != nil, "\(PostgresServer.unavailableReason)"))
struct PostgresOutageTests {
    @Test func anOutageOfTheServerRefusesSubmitsAndEveryStageResumesWhenItIsBack() throws {
        let server = try PostgresServer()  // its own: the outage must not touch other tests' databases
        defer { server.stop() }
        let daemon = try DaemonProcess(postgres: server)
        defer { daemon.kill() }
        // A submit waits at most storage.postgres.connect_timeout for the server.
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "storage: {postgres: {connect_timeout: 3s}}\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path] + (try daemon.writeBonusRules(StorageFaultTests.rules)))
        var submitted = StorageFaultTests.Submitted()
        try StorageFaultTests.submit(to: daemon, &submitted, limit: 10) { _ in false }
        _ = try StorageFaultTests.waitUntilCaughtUp(daemon, within: 20)
        #expect(submitted.total == 500 && submitted.refused == 0)

        try server.pause()
        let down = Date()
        do { try StorageFaultTests.submit(to: daemon, &submitted, limit: 3) { _ in false } } catch {
            print("the daemon's log ends:\n\(daemon.log.suffix(3000))")
            throw error
        }
        #expect(submitted.refused == 3, "submits while the server is down must be refused")
        #expect(Date().timeIntervalSince(down) < 15, "refusals must not wait for the server")
        #expect(try daemon.request(["op": "health"], timeout: 5000)["status"] == "ok")

        try server.start()
        // Submits go on by themselves once the pool has reconnected.
        let back = Date()
        try StorageFaultTests.submit(to: daemon, &submitted, limit: 200) { $0["ok"] == .bool(true) }
        #expect(Date().timeIntervalSince(back) < 30)
        try StorageFaultTests.submit(to: daemon, &submitted, limit: 10) { _ in false }
        let seconds = try StorageFaultTests.waitUntilCaughtUp(daemon, within: 30)
        print("postgres outage: stages caught up \(seconds) s after the last submit")
        #expect(submitted.total >= 1_050)
        try StorageFaultTests.expectLedgerHolds(submitted, daemon)
    }
}
