import ClubTestKit
import Foundation

import JSON
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The telemetry history through a real clubd: `history` at each resolution against the
/// pipelines' own windows and the samples sent, across `kill -9`; retention; bad requests.
@Suite(.serialized) struct HistoryEndToEndTests {
    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The history's minutes with the test minute pipeline's rules (1 min lateness, no delay;
    /// with its 2 s idle time they are that pipeline's windows, else the history's own operator's).
    static func config(shared: Bool) -> String {
        """
        state: {snapshot_interval: 1h}
        history: {allowed_lateness: 1m, out_of_orderness: 0s, idle_timeout: \(shared ? "2s" : "5m")}
        """
    }

    struct Sample: Hashable {
        let user: String
        let ts: Int64
        let distance: Double
        let hr: Int
        var json: String {
            #"{"type":"telemetry","user":"\#(user)","device":"w-\#(user)","session":"s","ts":\#(ts),"sport":"run","distance_m":\#(distance),"hr":\#(hr),"lat":55.75,"lon":37.61}"#
        }
    }

    /// Two users, 6 minutes each, a sample every 5 s (shuffled a little, one sent twice), and a
    /// last sample 5 minutes later that closes every window.
    static func stream(t0: Int64) -> [Sample] {
        var samples: [Sample] = []
        for user in ["h-1", "h-2"] {
            for i in 0..<72 { samples.append(Sample(user: user, ts: t0 + Int64(i) * 5_000, distance: Double(i) * 14.5, hr: 120 + i % 40)) }
            samples.swapAt(samples.count - 30, samples.count - 31)
            samples.append(Sample(user: user, ts: t0 + 11 * 60_000, distance: 72 * 14.5, hr: 110))
        }
        return samples
    }

    func submit(_ daemon: DaemonProcess, _ samples: ArraySlice<Sample>) throws {
        let events = try samples.map { try JSONValue.parse($0.json) }
        let reply = try daemon.request(["op": "submit", "events": .array(events)])
        #expect(reply["ok"] == true, "\(reply)")
    }

    func history(_ daemon: DaemonProcess, _ user: String, _ resolution: String, from: Int64, to: Int64, limit: Int? = nil) throws -> JSONValue {
        var request: [(key: String, value: JSONValue)] = [
            ("op", "history"), ("user", .string(user)), ("resolution", .string(resolution)), ("from", .number(Double(from))),
            ("to", .number(Double(to))),
        ]
        if let limit { request.append(("limit", .number(Double(limit)))) }
        let reply = try daemon.request(.object(JSONObject(request)))
        #expect(reply["ok"] == true, "\(reply)")
        return reply
    }

    /// With the minutes shared with the pipeline, and with their own operator.
    @Test(arguments: [true, false]) func historyMatchesTheWindowsAtEveryResolutionAcrossKill9(shared: Bool) async throws {
        let daemon = try DaemonProcess()
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try Self.config(shared: shared).write(to: config, atomically: true, encoding: .utf8)
        let flags = ["--config", config.path]
        try daemon.start(extraArguments: flags)
        #expect(daemon.log.contains(shared ? "history_minutes=pipeline minute" : "history_minutes=own operator"))
        let t0 = (Self.now / 60_000 - 30) * 60_000
        let samples = Self.stream(t0: t0)
        // Half, a snapshot (its batch written with it), the rest with one sample repeated, then
        // kill -9 before any snapshot: the journal must give the history the rest exactly once.
        try submit(daemon, samples[..<70])
        #expect(try daemon.request(["op": "snapshot"])["ok"] == true)
        try submit(daemon, samples[70...])
        try submit(daemon, samples[100..<101])
        // A submit is acknowledged once journaled; wait until the pipeline processed all.
        try daemon.waitFor("samples_processed", Int64(samples.count + 1))
        let distinct = Set(samples)
        let range = (from: t0 - 60_000, to: t0 + 20 * 60_000)

        func check(_ phase: String) throws {
            for user in ["h-1", "h-2"] {
                let sent = distinct.filter { $0.user == user }
                // Raw samples: each sent one once, oldest first, as sent.
                let points = try history(daemon, user, "sample", from: range.from, to: range.to)["points"]!.arrayValue!
                #expect(points.count == sent.count, "\(phase): \(user) raw samples")
                #expect(points.map { $0["ts"]!.int64Value! } == sent.map(\.ts).sorted(), "\(phase)")
                let probe = sent.first { $0.ts == t0 + 100_000 }!
                let stored = points.first { $0["ts"]?.int64Value == probe.ts }
                #expect(stored?["distance_m"]?.doubleValue == probe.distance && stored?["hr"]?.int64Value == Int64(probe.hr))
                #expect(stored?["lat"] == 55.75 && stored?["device"] == .string("w-\(user)") && stored?["sport"] == "run")
                // Minutes: equal to the minute pipeline's windows, minute by minute.
                let minutes = try history(daemon, user, "minute", from: range.from, to: range.to)["points"]!.arrayValue!
                let windows = try daemon.request(["op": "stats", "user": .string(user)])["windows"]!.arrayValue!
                    .filter { $0["pipeline"] == "minute" }
                #expect(minutes.count == windows.count && minutes.count == 7, "\(phase): 6 minutes of running and the closing sample's")
                for w in windows {
                    let m = minutes.first { $0["ts"] == w["start"] }
                    #expect(m?["samples"] == w["samples"] && m?["distance_m"] == w["distance_m"], "\(phase): minute \(w["start"]!)")
                    #expect(m?["moving_time_s"] == w["moving_time_s"] && m?["max_hr"] == w["max_hr"] && m?["avg_hr"] == w["avg_hr"])
                }
                let minuteSamples = minutes.reduce(0) { $0 + $1["samples"]!.int64Value! }
                let minuteDistance = minutes.reduce(0) { $0 + $1["distance_m"]!.doubleValue! }
                #expect(minuteSamples == Int64(sent.count))
                #expect(abs(minuteDistance - 72 * 14.5) < 1e-6, "the counter rule: the session's final counter")
                // Days: the sums of the minutes, by UTC day.
                let days = try history(daemon, user, "day", from: range.from / 86_400_000 * 86_400_000, to: range.to)["points"]!.arrayValue!
                #expect(days.count == Set(minutes.map { $0["ts"]!.int64Value! / 86_400_000 }).count)
                #expect(days.reduce(0) { $0 + $1["samples"]!.int64Value! } == minuteSamples)
                #expect(abs(days.reduce(0) { $0 + $1["distance_m"]!.doubleValue! } - minuteDistance) < 1e-6)
                #expect(days.map { $0["max_hr"]!.doubleValue! }.max() == minutes.map { $0["max_hr"]!.doubleValue! }.max())
            }
        }
        try check("before the kill")
        daemon.kill()
        try daemon.start(extraArguments: flags)
        try daemon.waitFor("samples_processed", Int64(samples.count - 70 + 1))
        try check("after kill -9 and the journal's replay")
        // Once written with a snapshot, the file holds each sample once.
        #expect(try daemon.request(["op": "snapshot"])["ok"] == true)
        try check("after a snapshot")
        #expect(daemon.terminate() == 0)
        let store = try await daemon.openStore()
        var stored = 0
        for user in Set(distinct.map(\.user)) {
            stored += try await store.historySamples(user: user, from: Int64.min, to: Int64.max).value.count
        }
        #expect(stored == distinct.count)
    }

    @Test func pagesCoverTheRangeOnceAndBadRequestsAreRefused() throws {
        let daemon = try DaemonProcess()
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try Self.config(shared: false).write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path])
        let t0 = (Self.now / 60_000 - 30) * 60_000
        let samples = Self.stream(t0: t0).filter { $0.user == "h-1" }
        try submit(daemon, samples[...])
        try daemon.waitFor("samples_processed", Int64(samples.count))
        var seen: [Int64] = []
        var from = t0 - 60_000
        var pages = 0
        while pages < 100 {
            let page = try history(daemon, "h-1", "sample", from: from, to: t0 + 20 * 60_000, limit: 7)
            seen += page["points"]!.arrayValue!.map { $0["ts"]!.int64Value! }
            pages += 1
            guard page["truncated"] == true, let next = page["next_from"]?.int64Value else { break }
            from = next
        }
        #expect(pages == (samples.count + 6) / 7)
        #expect(seen == samples.map(\.ts).sorted())
        let minutes = try history(daemon, "h-1", "minute", from: t0, to: t0 + 20 * 60_000, limit: 3)
        let rfc = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(t0) / 1000))
        let sameByText = try daemon.request(["op": "history", "user": "h-1", "from": .string(rfc), "limit": 3])
        #expect(sameByText["points"] == minutes["points"], "from as RFC 3339 (\(rfc))")
        #expect(minutes["points"]?.arrayValue?.count == 3 && minutes["next_from"]?.int64Value == t0 + 3 * 60_000)

        let bad: [(JSONValue, String)] = [
            (["op": "history", "user": "h-1", "resolution": "hour"], "unknown_resolution"),
            (["op": "history", "user": "h-1", "from": "yesterday"], "wrong_type"),
            (["op": "history", "user": "h-1", "from": 10, "to": 5], "bad_range"),
            (["op": "history", "user": "h-1", "limit": 0], "wrong_type"),
            (["op": "history", "resolution": "day"], "missing_field"),
        ]
        for (request, code) in bad {
            let reply = try daemon.request(request)
            #expect(reply["error"]?["code"] == .string(code), "\(request) → \(reply)")
        }
        #expect(try daemon.request(["op": "health"])["ok"] == true)
        #expect(daemon.terminate() == 0)
    }

    @Test func rawSamplesExpireInTheBackgroundWhileTheirMinutesStay() async throws {
        let daemon = try DaemonProcess()
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "history: {samples_for: 4s, retention_interval: 200ms}\n".write(to: config, atomically: true, encoding: .utf8)
        let port = UInt16.random(in: 20_000...60_000)
        try daemon.start(extraArguments: ["--config", config.path, "--metrics", "127.0.0.1:\(port)"])
        let start = Self.now - 2_000
        let fresh = (0..<10).map { Sample(user: "r-1", ts: start + Int64($0) * 200, distance: Double($0) * 0.6, hr: 100) }
        // Older than the retention when they arrive: minutes only.
        let old = (0..<5).map { Sample(user: "r-1", ts: start - 600_000 + Int64($0) * 1000, distance: Double($0), hr: 90) }
        try submit(daemon, (old + fresh)[...])
        try daemon.waitFor("samples_processed", 15)
        #expect(try daemon.request(["op": "snapshot"])["ok"] == true)
        let range = (from: start - 3_600_000, to: start + 60_000)
        #expect(try history(daemon, "r-1", "sample", from: range.from, to: range.to)["points"]?.arrayValue?.count == 10)
        let deadline = Date().addingTimeInterval(15)
        var left = 10
        while left > 0, Date() < deadline {
            try await Task.sleep(for: .milliseconds(250))
            left = try history(daemon, "r-1", "sample", from: range.from, to: range.to)["points"]?.arrayValue?.count ?? -1
        }
        #expect(left == 0, "the retention task deleted the expired samples")
        let minutes = try history(daemon, "r-1", "minute", from: range.from, to: range.to)["points"]!.arrayValue!
        #expect(minutes.reduce(0) { $0 + $1["samples"]!.int64Value! } == 15)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let deleted = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("clubd_history_deleted_total") }
        #expect(deleted.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "\(deleted ?? "no clubd_history_deleted_total")")
        #expect(daemon.terminate() == 0)
    }
}
