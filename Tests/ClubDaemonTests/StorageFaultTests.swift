import ClubTestKit
import Foundation
import JSON
import Testing

/// A full disk, for real: the daemon's state directory is a small tmpfs that fills up and is
/// then grown. Submits are refused with `storage_failed` while it is full; afterwards every
/// stage is back to `running` and caught up within seconds, every acknowledged event is in
/// the ledger exactly once, and SIGTERM exits within `shutdown.timeout` even while a stage
/// is retrying. Mounting needs root (CI runs as root); elsewhere the suite is skipped.
@Suite(
    .serialized, .enabled(if: Tmpfs.canMount, "needs root to mount a tmpfs (CI runs as root)"),
    .enabled(if: !DaemonProcess.testsPostgres, "fills the disk under SQLite's files: the PostgreSQL engine's disk is the server's"))
struct StorageFaultTests {
    /// One point per event, no caps: a user's balance is the number of their events.
    static let rules = """
        rules:
          - {id: visit, on: club.visited, points: 1}
        """
    static let users = 10
    /// Makes the log grow fast; unknown fields are kept in the log.
    static let padding = String(repeating: "x", count: 1500)

    /// A daemon whose state directory is a tmpfs of `megabytes`.
    final class Fixture {
        let daemon: DaemonProcess
        let disk: Tmpfs
        var flags: [String] = []

        init(megabytes: Int) throws {
            daemon = try DaemonProcess()
            disk = try Tmpfs(at: daemon.directory.appendingPathComponent("var").path, megabytes: megabytes)
            flags = try daemon.writeBonusRules(StorageFaultTests.rules)
        }

        deinit {
            daemon.kill()
            disk.unmount()  // before the daemon's scratch directory holding the mount point is removed
        }
    }

    /// What submitting did: acknowledged event ids per user, and how many batches were refused.
    struct Submitted {
        var acknowledged: [String: Set<String>] = [:]
        var refused = 0
        var next = 0
        var total: Int { acknowledged.values.reduce(0) { $0 + $1.count } }
    }

    /// The next `submit` of 50 visits, spread over the users: its events' ids and users, and the request.
    static func nextBatch(_ submitted: inout Submitted) -> (ids: [(id: String, user: String)], body: String) {
        var ids: [(String, String)] = []
        var body = #"{"op":"submit","events":["#
        for n in 0..<50 {
            let id = "v-\(submitted.next)"
            let user = "u-\(submitted.next % users)"
            submitted.next += 1
            ids.append((id, user))
            body += (n == 0 ? "" : ",") + #"{"type":"club.visited","id":"\#(id)","user":"\#(user)","pad":"\#(padding)"}"#
        }
        return (ids, body + "]}")
    }

    /// Submits batches of 50 events until `stop` says so (or `limit` batches), recording what
    /// was acknowledged. A refused batch must be refused whole with `storage_failed`.
    static func submit(
        to daemon: DaemonProcess, _ submitted: inout Submitted, limit: Int, until stop: (JSONValue) -> Bool
    ) throws {
        for _ in 0..<limit {
            let (ids, body) = nextBatch(&submitted)
            let reply = try daemon.request(bytes: Array(body.utf8), timeout: 20_000)
            if reply["ok"] == .bool(true) {
                #expect(reply["accepted"] == 50)
                for (id, user) in ids { submitted.acknowledged[user, default: []].insert(id) }
            } else {
                #expect(reply["error"]?["code"] == "storage_failed")
                submitted.refused += 1
            }
            if stop(reply) { return }
        }
    }

    static func stages(_ daemon: DaemonProcess) throws -> [String: JSONValue] {
        let members = try daemon.request(["op": "health"], timeout: 5000)["stages"]?.objectValue?.members ?? []
        return Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Waits until every stage is `running` with no lag; returns the seconds it took.
    static func waitUntilCaughtUp(_ daemon: DaemonProcess, within seconds: Double) throws -> Double {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            let stages = try stages(daemon)
            if !stages.isEmpty, stages.values.allSatisfy({ $0["state"] == "running" && $0["lag"] == 0 }) {
                return Date().timeIntervalSince(start)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestKitError("stages did not catch up within \(seconds) s: \(try stages(daemon))")
    }

    /// Every acknowledged event exactly once in its user's ledger, and nothing else there.
    static func expectLedgerHolds(_ submitted: Submitted, _ daemon: DaemonProcess) throws {
        var entries = 0
        for user in (0..<users).map({ "u-\($0)" }) {
            let acknowledged = submitted.acknowledged[user] ?? []
            let ledger = try daemon.request(["op": "ledger", "user": .string(user), "limit": 100_000])["entries"]?.arrayValue ?? []
            let events = ledger.compactMap { $0["event"]?.stringValue }
            #expect(events.count == Set(events).count, "an event booked twice for \(user)")
            let booked = Set(events)
            let missing = acknowledged.subtracting(booked).sorted()
            let extra = booked.subtracting(acknowledged).sorted()
            #expect(missing.isEmpty, "\(user): \(missing.count) acknowledged events not booked, such as \(missing.prefix(3))")
            #expect(extra.isEmpty, "\(user): \(extra.count) events booked but never acknowledged, such as \(extra.prefix(3))")
            #expect(try daemon.request(["op": "balance", "user": .string(user)])["points"]?.int64Value == Int64(acknowledged.count))
            entries += events.count
        }
        #expect(entries == submitted.total)
        #expect(entries > 0)
    }

    @Test func fullDiskRefusesSubmitsAndEveryStageResumesWhenItIsGrown() throws {
        let fixture = try Fixture(megabytes: 4)
        let daemon = fixture.daemon
        try daemon.start(extraArguments: fixture.flags)
        var submitted = Submitted()
        // Fill the disk: go on until three batches in a row were refused.
        var refusedInARow = 0
        try Self.submit(to: daemon, &submitted, limit: 2000) { reply in
            refusedInARow = reply["ok"] == .bool(true) ? 0 : refusedInARow + 1
            return refusedInARow == 3
        }
        #expect(refusedInARow == 3, "the disk never filled")
        #expect(submitted.total > 0)
        // The daemon still answers health while the disk is full, with every stage in it.
        let full = try Self.stages(daemon)
        #expect(Set(full.keys) == ["telemetry", "bonus", "activity-feed", "training", "offers", "community"])

        try fixture.disk.grow(to: 256)
        let refusedBefore = submitted.refused
        try Self.submit(to: daemon, &submitted, limit: 20) { _ in false }
        #expect(submitted.refused == refusedBefore, "submits still refused after the disk was grown")
        let seconds = try Self.waitUntilCaughtUp(daemon, within: 20)
        print("storage fault: \(submitted.total) events acknowledged, \(submitted.refused) batches refused, caught up \(seconds) s after the last submit")
        try Self.expectLedgerHolds(submitted, daemon)

        let started = Date()
        #expect(daemon.terminate() == 0)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// The ledger alone on a small tmpfs (a symbolic link from the state directory), filled
    /// by a file: the activity log keeps taking events while the bonus stage cannot commit.
    final class LedgerFixture {
        let daemon: DaemonProcess
        let disk: Tmpfs
        var flags: [String] = []

        init() throws {
            daemon = try DaemonProcess()
            disk = try Tmpfs(at: daemon.directory.appendingPathComponent("ledger-disk").path, megabytes: 8)
            let state = daemon.directory.appendingPathComponent("var")
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: state.appendingPathComponent("clubd-ledger.sqlite").path, withDestinationPath: disk.path + "/ledger.sqlite")
            flags = try daemon.writeBonusRules(StorageFaultTests.rules)
        }

        deinit {
            daemon.kill()
            disk.unmount()  // before the daemon's scratch directory holding the mount point is removed
        }
    }

    /// Waits until the bonus stage reports `retrying` with a lag and an error.
    static func waitUntilBonusRetries(_ daemon: DaemonProcess) throws -> JSONValue {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let bonus = try stages(daemon)["bonus"], bonus["state"] == "retrying" { return bonus }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestKitError("the bonus stage never reported retrying: \(try stages(daemon))")
    }

    /// CPU seconds the process used (user + system), from /proc.
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        return (Double(fields[11])! + Double(fields[12])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func bonusStageRetriesWithoutSpinningWhileItsDiskIsFullAndResumesByItself() throws {
        let fixture = try LedgerFixture()
        let daemon = fixture.daemon
        try daemon.start(extraArguments: fixture.flags)
        var submitted = Submitted()
        try Self.submit(to: daemon, &submitted, limit: 10) { _ in false }
        _ = try Self.waitUntilCaughtUp(daemon, within: 10)

        try fixture.disk.fill()
        try Self.submit(to: daemon, &submitted, limit: 20) { _ in false }
        #expect(submitted.refused == 0, "the activity log is on another disk: submits must go on")
        let retrying = try Self.waitUntilBonusRetries(daemon)
        #expect((retrying["lag"]?.int64Value ?? 0) > 0)
        #expect(retrying["last_error"]?.stringValue?.isEmpty == false)
        // Retrying with back-off, not spinning: the whole daemon idles meanwhile.
        let pid = try #require(daemon.processIdentifier)
        let before = try Self.cpuSeconds(pid)
        Thread.sleep(forTimeInterval: 2)
        let used = try Self.cpuSeconds(pid) - before
        print("storage fault: daemon CPU while the bonus stage retried: \(used) s in 2 s")
        #expect(used < 0.5)
        #expect(try Self.stages(daemon)["bonus"]?["state"] == "retrying")

        try fixture.disk.free()
        let seconds = try Self.waitUntilCaughtUp(daemon, within: 30)
        print("storage fault: bonus stage caught up \(seconds) s after the disk was freed")
        #expect(seconds < 10)
        try Self.expectLedgerHolds(submitted, daemon)
        #expect((try Self.stages(daemon)["bonus"]?["failures"]?.int64Value ?? 0) > 0)
    }

    @Test func sigtermWhileTheBonusStageRetriesExitsWithinTheBoundAndLosesNothing() throws {
        let fixture = try LedgerFixture()
        let daemon = fixture.daemon
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "shutdown: {timeout: 3s}\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: fixture.flags + ["--config", config.path])
        try fixture.disk.fill()
        var submitted = Submitted()
        try Self.submit(to: daemon, &submitted, limit: 20) { _ in false }
        _ = try Self.waitUntilBonusRetries(daemon)

        let started = Date()
        _ = daemon.terminate()
        let took = Date().timeIntervalSince(started)
        print("storage fault: SIGTERM while the bonus stage retried: exited after \(took) s")
        #expect(took < 3 + 1)

        try fixture.disk.free()
        try daemon.start(extraArguments: fixture.flags + ["--config", config.path])
        _ = try Self.waitUntilCaughtUp(daemon, within: 10)
        try Self.expectLedgerHolds(submitted, daemon)
    }
}

/// A tmpfs mounted for the storage fault tests; unmounted when released.
final class Tmpfs {
    let path: String

    /// Mounts a tmpfs of `megabytes` at `path` (created if needed).
    init(at path: String, megabytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.run(["/bin/mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            throw TestKitError("cannot mount a tmpfs on \(path)")
        }
    }

    func grow(to megabytes: Int) throws {
        guard Self.run(["/bin/mount", "-o", "remount,size=\(megabytes)m", path]) == 0 else { throw TestKitError("cannot grow the tmpfs") }
    }

    private var filler: String { path + "/filler" }

    /// Writes a file until the tmpfs is full.
    func fill() throws {
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TestKitError("cannot create \(filler)") }
        defer { close(fd) }
        let block = [UInt8](repeating: 0, count: 64 << 10)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Removes what ``fill()`` wrote.
    func free() throws { try FileManager.default.removeItem(atPath: filler) }

    private var mounted = true

    /// Unmounts now (lazily, should something still hold a file there).
    func unmount() {
        guard mounted else { return }
        mounted = false
        _ = Self.run(["/bin/umount", "-l", path])
    }

    deinit { unmount() }

    /// Whether this process may mount one (root, in a namespace that allows it).
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-mount-probe-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: probe) }
        return (try? Tmpfs(at: probe, megabytes: 1)) != nil
    }()

    static func run(_ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
