import ClubTestKit
import Foundation
import GRDB
import JSON
import Telemetry
import Testing

/// Drives a real clubd process through its real sockets.
@Suite(.serialized) struct EndToEndTests {
    static let t0: Int64 = (Int64(Date().timeIntervalSince1970 * 1000) / 60_000 - 30) * 60_000  // a minute boundary, 30 min ago

    static func telemetry(_ ts: Int64, _ distance: Double, user: String = "u-1", hr: Int = 140) -> String {
        #"{"type":"telemetry","user":"\#(user)","device":"w","session":"s","ts":\#(ts),"distance_m":\#(distance),"hr":\#(hr)}"#
    }

    static let threeKinds: [String: String] = [
        "minute.yaml": DaemonProcess.minutePipeline,
        "hop.yaml": """
            name: hop
            stages:
              - {id: in, kind: source}
              - {id: w, kind: window, from: in, window: hopping, size: 2m, slide: 1m, allowed_lateness: 1m, out_of_orderness: 0s}
              - {id: out, kind: publish, from: w, topic: window}
            """,
        "session.yaml": """
            name: session
            stages:
              - {id: in, kind: source}
              - {id: w, kind: window, from: in, window: session, gap: 30s, allowed_lateness: 1m, out_of_orderness: 0s}
              - {id: out, kind: publish, from: w, topic: window}
            """,
    ]

    /// Counter 0…700 over two minutes with a lost sample, a repeat and a swap, then a sample
    /// four minutes later that closes everything.
    static var knownStream: [String] {
        [
            telemetry(t0, 0), telemetry(t0 + 10_000, 100), telemetry(t0 + 20_000, 200, hr: 160),
            telemetry(t0 + 20_000, 200, hr: 160), telemetry(t0 + 50_000, 500), telemetry(t0 + 30_000, 300),
            telemetry(t0 + 70_000, 700, hr: 120), telemetry(t0 + 240_000, 900),
        ]
    }

    @Test func exactWindowsForAKnownStreamInAllThreeKinds() throws {
        let daemon = try DaemonProcess(pipelines: Self.threeKinds)
        try daemon.start()
        let windows = try daemon.subscriber("window.u-1")
        let push = try daemon.pusher()
        for frame in Self.knownStream { try push.send(Array(frame.utf8)) }
        let messages = try windows.receive(count: 100, timeout: 2000).map(\.payload)
        /// The latest result (final or update) of a window.
        func find(_ pipeline: String, _ start: Int64) -> JSONValue? {
            messages.last { $0["pipeline"] == .string(pipeline) && $0["start"] == .number(Double(start)) }
        }
        let first = try #require(find("minute", Self.t0))
        #expect(first["samples"] == 5)
        #expect(first["distance_m"] == 500)
        #expect(first["max_hr"] == 160)
        #expect(first["avg_hr"] == 144)  // (140 + 140 + 160 + 140 + 140) / 5
        #expect(first["update"] == false)
        #expect(find("minute", Self.t0 + 60_000)?["distance_m"] == 200)
        #expect(find("hop", Self.t0)?["distance_m"] == 700)
        #expect(find("hop", Self.t0 - 60_000)?["distance_m"] == 500)
        // Sessions (gap 30 s): 0…20 s closes when +50 s arrives; the late +30 s bridges it with
        // the session opened at +50 s, and the merged session is re-emitted as an update.
        let sessions = messages.filter { $0["pipeline"] == .string("session") }
        #expect(sessions.first?["distance_m"] == 200)
        #expect(sessions.first?["update"] == false)
        #expect(sessions.allSatisfy { $0["start"] == .number(Double(Self.t0)) })
        #expect(sessions.last?["update"] == true)
        #expect(sessions.last?["distance_m"] == 700)
        #expect(sessions.last?["samples"] == 6)
        let seqs = messages.compactMap { $0["seq"]?.int64Value }
        #expect(seqs == Array(1...Int64(seqs.count)))
        #expect(daemon.terminate() == 0)
    }

    @Test func lateSamplesCorrectWithinLatenessAndGoToLateBeyondIt() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let sub = try daemon.subscriber("")
        let push = try daemon.pusher()
        for frame in [Self.telemetry(Self.t0, 0), Self.telemetry(Self.t0 + 30_000, 300), Self.telemetry(Self.t0 + 65_000, 650)] {
            try push.send(Array(frame.utf8))
        }
        var got = try sub.receive(count: 1)
        #expect(got.first?.payload["distance_m"] == 300)
        try push.send(Array(Self.telemetry(Self.t0 + 50_000, 500).utf8))  // within lateness: an update
        got = try sub.receive(count: 1)
        #expect(got.first?.payload["update"] == true)
        #expect(got.first?.payload["distance_m"] == 500)
        try push.send(Array(Self.telemetry(Self.t0 + 200_000, 2000).utf8))  // first window now final for good
        #expect(try sub.receive(count: 1).first?.payload["start"] == .number(Double(Self.t0 + 60_000)))
        try push.send(Array(Self.telemetry(Self.t0 + 55_000, 550).utf8))
        got = try sub.receive(count: 1)
        #expect(got.first?.topic == "late")
        #expect(got.first?.payload["code"] == "late")
        #expect(got.first?.payload["ts"] == .number(Double(Self.t0 + 55_000)))
        daemon.terminate()
    }

    @Test func badInputGetsSpecificReasonsWhileValidTrafficFlows() throws {
        let daemon = try DaemonProcess()
        try daemon.start(extraArguments: [])
        let rejected = try daemon.subscriber("rejected")
        let push = try daemon.pusher()
        let future = Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000
        let bad: [(frame: [UInt8], code: String)] = [
            (Array(#"{"type":"telemetry","user":"#.utf8), "malformed_json"),
            (Array(#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":"x"}"#.utf8), "wrong_type"),
            (Array(#"{"type":"telemetry","user":"u","device":"d","ts":1764237600000}"#.utf8), "missing_field"),
            (Array(#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":300}"#.utf8), "out_of_range"),
            (Array(#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":NaN}"#.utf8), "not_finite"),
            ([UInt8](repeating: 0x20, count: (1 << 20) + 1), "frame_too_large"),
            ([0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x01], "malformed_json"),
            ([], "empty_frame"),
            (Array(("[" + Array(repeating: "{}", count: 10_001).joined(separator: ",") + "]").utf8), "batch_too_large"),
            (Array(#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":\#(future)}"#.utf8), "future_timestamp"),
            (Array(#"{"type":"telemetry","user":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), "invalid_utf8"),
            (Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8), "too_deep"),
            (Array(#"{"type":"telemetry","user":"ann@example.com","device":"d","session":"s","ts":1764237600000}"#.utf8), "personal_data"),
            (Array(#"[1,2]"#.utf8), "not_an_object"),
        ]
        for (i, item) in bad.enumerated() {
            try push.send(item.frame)
            try push.send(Array(Self.telemetry(Self.t0 + Int64(i) * 1000, Double(i) * 10).utf8))
        }
        // A multipart message is refused whole, even one holding valid events in its parts.
        let valid = Array(Self.telemetry(Self.t0 + 99_000, 990).utf8)
        _ = try push.send(frames: [valid, valid, valid])
        let got = try rejected.receive(count: bad.count + 2)  // the array of two non-objects counts twice
        let codes = got.compactMap { $0.payload["code"]?.stringValue }
        for item in bad { #expect(codes.contains(item.code), "missing \(item.code)") }
        #expect(codes.contains("multipart_message"))
        // Valid traffic kept flowing: all good samples are in the open window.
        let deadline = Date().addingTimeInterval(10)
        while try daemon.request(["op": "health"])["samples_processed"]?.int64Value ?? 0 < bad.count, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let stats = try daemon.request(["op": "stats", "user": "u-1"])
        #expect(stats["windows"]?.arrayValue?.first?["samples"] == .number(Double(bad.count)))
        let health = try daemon.request(["op": "health"])
        #expect(health["status"] == "ok")
        // Which engine keeps the state, and where (never a password).
        #expect(health["storage"]?["engine"]?.stringValue == (DaemonProcess.testsPostgres ? "postgres" : "sqlite"))
        let location = health["storage"]?["location"]?.stringValue ?? ""
        #expect(DaemonProcess.testsPostgres ? location.hasPrefix("postgresql://") : location == daemon.databasePath, "\(location)")
        daemon.terminate()
    }

    @Test func commandErrorsCarryPreciseCodes() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        #expect(try daemon.request(bytes: Array("nope".utf8))["error"]?["code"] == "malformed_json")
        #expect(try daemon.request(["op": "fly"])["error"]?["code"] == "unknown_op")
        #expect(try daemon.request(["user": "u"])["error"]?["code"] == "missing_field")
        #expect(try daemon.request([1])["error"]?["code"] == "bad_request")
        #expect(try daemon.request(["op": "stats"])["error"]?["code"] == "missing_field")
        #expect(try daemon.request(["op": "submit", "events": "x"])["error"]?["code"] == "wrong_type")
        let reply = try daemon.request([
            "op": "submit", "events": [.object(JSONObject([("type", "telemetry"), ("user", "u")])), try JSONValue.parse(Self.telemetry(Self.t0, 1))],
        ])
        #expect(reply["accepted"] == 1)
        #expect(reply["rejected"]?.arrayValue?.first?["code"] == "missing_field")
        #expect(reply["rejected"]?.arrayValue?.first?["index"] == 0)
        daemon.terminate()
    }

    /// Issue 17's repro: 40 members' sessions sent one after another, the first member's next
    /// session 4 hours later among them. Event time is per user: nobody's samples are late, every
    /// member gets every window, closed by their own time or their 2 s of quiet.
    @Test func fortyMembersSentOneAfterAnotherAreAllWindowed() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let late = try daemon.subscriber("late")
        let push = try daemon.pusher()
        let base = Self.t0 - 5 * 3_600_000
        for user in 0..<40 {
            let frames = (0..<18).map { Self.telemetry(base + Int64($0) * 10_000, Double($0) * 30, user: "m-\(user)") }
            try push.send(Array("[\(frames.joined(separator: ","))]".utf8))
            if user == 0 {
                try push.send(Array(Self.telemetry(base + 4 * 3_600_000, 0, user: "m-0").utf8))
            }
        }
        try daemon.waitFor("samples_processed", 40 * 18 + 1)
        #expect(try late.receive(count: 1, timeout: 3500).isEmpty, "no member's sample is late")
        for user in 0..<40 {
            let windows = try daemon.request(["op": "stats", "user": .string("m-\(user)")])["windows"]!.arrayValue!
                .filter { $0["start"]!.int64Value! < base + 3_600_000 }
            #expect(windows.map { $0["samples"]!.int64Value! } == [6, 6, 6], "m-\(user)")
            #expect(windows.allSatisfy { $0["open"] == nil }, "closed (m-0 by its own next session, the others by the clock)")
            #expect(windows.reduce(0) { $0 + $1["distance_m"]!.doubleValue! } == 17 * 30)
        }
        #expect(daemon.terminate() == 0)
    }

    /// A stream cut in two by SIGTERM and a restart gives the windows of one run.
    /// 200 s of three users' telemetry, a sample a second each.
    static var threeUsers: [String] {
        (0..<600).map { i in Self.telemetry(Self.t0 + Int64(i / 3) * 1000, Double(i / 3) * 3.5, user: "u-\(i % 3)", hr: 100 + i % 50) }
    }

    /// Sends `frames` to a real clubd and collects every window published (without `at`,
    /// sorted); with `cut`, the daemon is stopped with SIGTERM before frame `cut`, `whileStopped`
    /// runs, and it is started again. - Returns: the windows, and the daemon (stopped).
    static func windows(of frames: [String], restartAt cut: Int?, whileStopped: (DaemonProcess) throws -> Void = { _ in }) throws -> (
        windows: [String], daemon: DaemonProcess
    ) {
        let daemon = try DaemonProcess()
        try daemon.start()
        var sub = try daemon.subscriber("window.u-")
        var push = try daemon.pusher()
        var received: [JSONValue] = []
        for (i, frame) in frames.enumerated() {
            if i == cut {
                Thread.sleep(forTimeInterval: 0.5)
                received += try sub.receive(count: 1000, timeout: 500).map(\.payload)
                #expect(daemon.terminate() == 0)
                try whileStopped(daemon)
                try daemon.start()
                sub = try daemon.subscriber("window.u-")
                push = try daemon.pusher()
            }
            try push.send(Array(frame.utf8))
        }
        // The last windows close when the users have been quiet for 2 s on the daemon's clock.
        received += try sub.receive(count: 1000, timeout: 5000).map(\.payload)
        #expect(daemon.terminate() == 0)
        let windows = received.map { message -> String in
            guard case .object(var o) = message else { return "" }
            o["at"] = nil
            return JSONValue.object(o).jsonText
        }.sorted()
        return (windows, daemon)
    }

    @Test func sigtermAndRestartGiveTheSameWindowsAsOneRun() throws {
        let whole = try Self.windows(of: Self.threeUsers, restartAt: nil).windows
        let cut = try Self.windows(of: Self.threeUsers, restartAt: 301).windows
        #expect(whole.count == 3 * 4)
        #expect(cut == whole)
    }

    /// A state directory of the earlier release, whose snapshot held each stage's windows and the
    /// record tracker as whole-state parts, restores exactly (the same windows as one run), and
    /// its next snapshot rewrites them as per-user entries.
    @Test(.enabled(if: !DaemonProcess.testsPostgres, "an earlier release's SQLite file: PostgreSQL has no earlier format"))
    func aWholeStateSnapshotOfTheEarlierReleaseRestoresAndIsRewrittenAsEntries() throws {
        let whole = try Self.windows(of: Self.threeUsers, restartAt: nil).windows
        let upgraded = try Self.windows(of: Self.threeUsers, restartAt: 301) { daemon in
            let users = try Self.downgradeSnapshot(daemon.databasePath)
            #expect(users == 3, "the three users' windows were stored as entries")
        }
        #expect(whole.count == 3 * 4)
        #expect(upgraded.windows == whole)
        let stored = try DatabaseQueue(path: upgraded.daemon.databasePath).read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM snapshot_entry WHERE part IN ('stage.minute', 'records.sessions')") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM snapshot_slice WHERE name = 'stage.minute'") ?? 0)
        }
        #expect(stored.0 == 6 && stored.1 == 0, "the users' windows and sessions are entries again")
    }

    /// Rewrites a stopped daemon's snapshot the way the earlier release stored it: the minute
    /// stage's users and the record tracker as whole-state parts, no entries.
    /// - Returns: the users the minute stage held.
    static func downgradeSnapshot(_ path: String) throws -> Int {
        try DatabaseQueue(path: path).write { db in
            let prefix = try #require(try Data.fetchOne(db, sql: "SELECT state FROM snapshot_slice WHERE name = 'stage.minute.spec'"))
            let users = try Row.fetchAll(db, sql: "SELECT key, state FROM snapshot_entry WHERE part = 'stage.minute'")
                .map { (key: $0["key"] as String, entry: [UInt8]($0["state"] as Data)) }
            let windows = try WindowOperator(spec: WindowSpec(kind: .tumbling(size: 60_000)), entries: users)
            let meta = try #require(try Data.fetchOne(db, sql: "SELECT state FROM snapshot_slice WHERE name = 'records'"))
            let sessions = try Data.fetchAll(db, sql: "SELECT state FROM snapshot_entry WHERE part = 'records.sessions'").map { [UInt8]($0) }
            let bests = try Row.fetchAll(db, sql: "SELECT key, state FROM snapshot_entry WHERE part = 'records.bests'")
                .map { (key: $0["key"] as String, entry: [UInt8]($0["state"] as Data)) }
            let records = try EffortTracker(meta: [UInt8](meta), sessions: sessions, bests: bests)
            try db.execute(sql: "DELETE FROM snapshot_slice WHERE name IN ('stage.minute.spec', 'stage.minute', 'records')")
            try db.execute(sql: "INSERT INTO snapshot_slice (name, idx, state) VALUES ('stage.minute', 0, ?)", arguments: [prefix + Data(windows.snapshot())])
            try db.execute(sql: "INSERT INTO snapshot_slice (name, idx, state) VALUES ('records', 0, ?)", arguments: [Data(records.snapshot())])
            try db.execute(sql: "DELETE FROM snapshot_entry")
            return users.count
        }
    }

    /// Acknowledged submits survive SIGKILL: they are journaled before the reply.
    @Test func acknowledgedSubmitsSurviveKill9() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        var acknowledged = 0
        for batch in 0..<10 {
            let events = (0..<50).map { i -> JSONValue in
                let n = batch * 50 + i
                return try! JSONValue.parse(Self.telemetry(Self.t0 + Int64(n) * 100, Double(n)))
            }
            let reply = try daemon.request(["op": "submit", "events": .array(events)])
            acknowledged += Int(reply["accepted"]?.int64Value ?? 0)
        }
        daemon.kill()
        try daemon.start()
        let stats = try daemon.request(["op": "stats", "user": "u-1"])
        let total = stats["windows"]?.arrayValue?.reduce(0) { $0 + ($1["samples"]?.int64Value ?? 0) }
        #expect(acknowledged == 500)
        #expect(total == 500)
        // Replaying again after a clean restart does not count anything twice.
        #expect(daemon.terminate() == 0)
        try daemon.start()
        let again = try daemon.request(["op": "stats", "user": "u-1"])
        #expect(again["windows"]?.arrayValue?.reduce(0) { $0 + ($1["samples"]?.int64Value ?? 0) } == 500)
        daemon.terminate()
    }

    @Test func checkConfigReportsFileLineAndExitsNonZero() throws {
        let daemon = try DaemonProcess(pipelines: ["bad.yaml": "name: bad\nstages:\n  - {id: in, kind: sorce}\n"])
        let (status, output) = try DaemonProcess.checkConfig(["--pipelines", daemon.directory.appendingPathComponent("Pipelines").path])
        #expect(status == 78)
        #expect(output.contains("bad.yaml:3:"))
        #expect(output.contains("unknown stage kind 'sorce'"))
    }
}
