import ClubTestKit
import Foundation
import JSON
import Testing

/// Workouts, profiles and leaderboards through a real clubd.
@Suite(.serialized) struct LeaderboardEndToEndTests {
    static let boards = """
        name: leaderboards
        time_zone: UTC
        publish_interval: 200ms
        personal_records_idle: 2s
        leaderboards:
          - {id: week-km, metric: distance, period: week, size: 2}
          - {id: region-workouts, metric: workouts, period: all_time, scope: each_region}
          - {id: best-5k, metric: best_time, band: [5000, 5500], period: all_time, sport: run}
        """

    static func pipelines() -> [String: String] { ["minute.yaml": DaemonProcess.minutePipeline, "boards.yaml": boards] }

    /// Monday 2026-11-23 08:00 UTC, and the week before.
    static let monday: Int64 = 1_795_420_800_000 + 8 * 3_600_000
    static let lastWeek = monday - 7 * 86_400_000

    static func workout(_ id: String, _ user: String, source: String = "device", km: Double, minutes: Int, at start: Int64) -> JSONValue {
        try! JSONValue.parse(
            #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"\#(source)","sport":"run","start":\#(start),"duration_s":\#(minutes * 60),"distance_m":\#(km * 1000)}"#)
    }

    static func profile(_ user: String, _ region: String) -> JSONValue {
        try! JSONValue.parse(#"{"type":"profile","id":"p-\#(user)-\#(region)","user":"\#(user)","region":"\#(region)"}"#)
    }

    @Test func ranksTiesDuplicatesPeriodsAndScopesAreExact() throws {
        let daemon = try DaemonProcess(pipelines: Self.pipelines())
        try daemon.start()
        let topic = try daemon.subscriber("leaderboard.week-km")
        let events: [JSONValue] = [
            Self.profile("ann", "RU-MOW"), Self.profile("bob", "RU-SPE"), Self.profile("cat", "RU-MOW"),
            // Bob allows imports from Strava.
            try! JSONValue.parse(#"{"type":"connection","id":"c-bob","user":"bob","system":"strava","state":"active"}"#),
            Self.workout("a1", "ann", km: 5.2, minutes: 26, at: Self.monday),
            // Bob's watch and Strava both report the same run: it counts once (the device copy).
            Self.workout("b1-strava", "bob", source: "strava", km: 5.1, minutes: 25, at: Self.monday + 60_000),
            Self.workout("b1", "bob", km: 5.2, minutes: 24, at: Self.monday + 30_000),
            // Cat ties with 5.2 km, but a day later: behind Bob and Ann.
            Self.workout("c1", "cat", km: 5.2, minutes: 30, at: Self.monday + 86_400_000),
            Self.workout("d1", "dan", km: 3, minutes: 20, at: Self.monday),
            // Last week's run is on last week's board only.
            Self.workout("a0", "ann", km: 10, minutes: 50, at: Self.lastWeek),
        ]
        let reply = try daemon.request(["op": "submit", "events": .array(events)])
        #expect(reply["accepted"] == 10)
        let week = "2026-W48"
        func board(_ request: JSONValue) throws -> JSONValue {
            let deadline = Date().addingTimeInterval(10)
            var reply = try daemon.request(request)
            while reply["ranked"]?.int64Value ?? 0 < 1, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
                reply = try daemon.request(request)
            }
            return reply
        }
        Thread.sleep(forTimeInterval: 0.5)
        let current = try board(["op": "leaderboard", "board": "week-km", "period": .string(week), "user": "dan"])
        #expect(current["period"] == .string(week))
        #expect(current["ranked"] == 4)
        // Bob, Ann and Cat all ran 5.2 km: Bob finished first (08:24:30), then Ann (08:26), then Cat.
        #expect(
            current["entries"]?.arrayValue?.map { "\($0["rank"]!.int64Value!):\($0["user"]!.stringValue!):\($0["value"]!.int64Value!)" }
                == ["1:bob:5200", "2:ann:5200"])
        #expect(current["user"]?["rank"] == 4 && current["user"]?["value"] == 3000)  // outside the top 2
        let cat = try daemon.request(["op": "leaderboard", "board": "week-km", "period": .string(week), "user": "cat"])
        #expect(cat["user"]?["rank"] == 3)
        let previous = try daemon.request(["op": "leaderboard", "board": "week-km", "period": "2026-W47"])
        #expect(previous["entries"]?.arrayValue?.map { $0["user"] } == ["ann"])
        let mow = try daemon.request(["op": "leaderboard", "board": "region-workouts", "region": "RU-MOW"])
        #expect(mow["entries"]?.arrayValue?.map { "\($0["user"]!.stringValue!)=\($0["value"]!.int64Value!)" } == ["ann=2", "cat=1"])
        let spe = try daemon.request(["op": "leaderboard", "board": "region-workouts", "region": "RU-SPE"])
        #expect(spe["entries"]?.arrayValue?.map { "\($0["user"]!.stringValue!)=\($0["value"]!.int64Value!)" } == ["bob=1"])
        let fast = try daemon.request(["op": "leaderboard", "board": "best-5k"])
        #expect(fast["entries"]?.arrayValue?.map { "\($0["user"]!.stringValue!)=\($0["value"]!.int64Value!)" } == ["bob=1440", "ann=1560", "cat=1800"])

        let published = try topic.receive(count: 2, timeout: 5000).filter { $0.payload["period"] == .string(week) }
        #expect(published.last?.payload["entries"]?.arrayValue?.count == 2)
        #expect(published.last?.payload["final"] == false)

        // Bad queries get precise codes.
        #expect(try daemon.request(["op": "leaderboard"])["error"]?["code"] == "missing_field")
        #expect(try daemon.request(["op": "leaderboard", "board": "nope"])["error"]?["code"] == "unknown_board")
        #expect(try daemon.request(["op": "leaderboard", "board": "region-workouts"])["error"]?["code"] == "missing_field")

        // A restart (clean or not) keeps every board.
        daemon.kill()
        try daemon.start()
        let again = try board(["op": "leaderboard", "board": "week-km", "period": .string(week), "user": "dan"])
        #expect(again["entries"] == current["entries"] && again["user"] == current["user"])
        daemon.terminate()
    }

    @Test func endedPeriodsPublishTheirFinalBoardOnce() throws {
        let daemon = try DaemonProcess(pipelines: Self.pipelines())
        try daemon.start()
        let topic = try daemon.subscriber("leaderboard.week-km")
        _ = try daemon.request(["op": "submit", "events": [Self.workout("old", "ann", km: 7, minutes: 40, at: Self.lastWeek)]])
        let got = try topic.receive(count: 3, timeout: 2500)
        let finals = got.filter { $0.payload["final"] == true }
        #expect(finals.count == 1)
        #expect(finals.first?.payload["period"] == "2026-W47")
        daemon.terminate()
    }

    @Test func aTelemetrySessionAndTheWatchUploadOfItCountOnce() throws {
        var pipelines = Self.pipelines()
        pipelines["sessions.yaml"] = """
            name: sessions
            stages:
              - {id: in, kind: source}
              - {id: w, kind: window, from: in, window: session, gap: 30s, allowed_lateness: 1m, out_of_orderness: 0s, idle_timeout: 2s}
              - {id: out, kind: publish, from: w, topic: window, activity: workout.finished}
            """
        let daemon = try DaemonProcess(pipelines: pipelines)
        try daemon.start()
        let start = Int64(Date().timeIntervalSince1970 * 1000) / 3_600_000 * 3_600_000 - 3_600_000
        let week = try daemon.request(["op": "leaderboard", "board": "week-km"])["period"]!
        func sample(_ i: Int64, _ user: String = "eve") -> JSONValue {
            try! JSONValue.parse(
                #"{"type":"telemetry","user":"\#(user)","device":"watch","session":"s1","ts":\#(start + i * 10_000),"distance_m":\#(i * 40),"sport":"run"}"#)
        }
        // 31 samples, 5 minutes, 1.2 km; 2 s of quiet on the daemon's clock closes the session.
        _ = try daemon.request(["op": "submit", "events": .array((0...30).map { sample($0) })])
        func eve() throws -> JSONValue? {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let reply = try daemon.request(["op": "leaderboard", "board": "week-km", "period": week, "user": "eve"])
                if reply["user"] != .null, reply["user"] != nil { return reply["user"] }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }
        #expect(try eve()?["value"] == 1200)
        // The watch uploads its own summary of the same run: it replaces the derived one.
        let upload = Self.workout("watch-upload-1", "eve", km: 1.25, minutes: 5, at: start)
        _ = try daemon.request(["op": "submit", "events": [upload]])
        let deadline = Date().addingTimeInterval(10)
        var value = try eve()?["value"]
        while value != 1250, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            value = try eve()?["value"]
        }
        #expect(value == 1250)
        daemon.terminate()
    }

    @Test func finishedWorkoutsAreComparedWithTheirCohort() throws {
        let daemon = try DaemonProcess(pipelines: Self.pipelines())
        try daemon.start()
        let zoe = try daemon.subscriber("comparison.zoe")
        let others = [1500, 1620, 1740].enumerated().map { i, seconds in
            Self.workout("r\(i)", "runner\(i)", km: 5.1, minutes: seconds / 60, at: Self.monday + Int64(i) * 3_600_000)
        }
        _ = try daemon.request(["op": "submit", "events": .array(others)])
        _ = try daemon.request(["op": "submit", "events": [Self.workout("z1", "zoe", km: 5.2, minutes: 26, at: Self.monday + 86_400_000)]])
        let got = try zoe.receive(count: 1).first?.payload
        #expect(got?["workout"] == "z1" && got?["band"] == "5k")
        #expect(got?["result_s"] == 1560 && got?["rank"] == 2 && got?["cohort_size"] == 4)
        #expect(got?["percentile"] == .number(Double(2) / 3 * 100).rounded(to: 1))
        #expect(got?["cohort_median_s"] == 1620 && got?["cohort_best_s"] == 1500 && got?["exact"] == true)
        #expect(got?["personal_best_s"] == .null)
        daemon.terminate()
    }
}

extension LeaderboardEndToEndTests {
    @Test func personalRecordsFromTelemetryBecomeActivityEvents() throws {
        let daemon = try DaemonProcess(pipelines: Self.pipelines())
        try daemon.start()
        let records = try daemon.subscriber("activity.record.personal")
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
        // 1.2 km at 5 m/s, one sample per 10 s; another user's sample far ahead ends nothing, 2 s
        // of quiet on the daemon's clock (personal_records_idle) end the session.
        var events: [JSONValue] = (0...24).map { i in
            try! JSONValue.parse(
                #"{"type":"telemetry","user":"pat","device":"watch","session":"s1","ts":\#(start + Int64(i) * 10_000),"distance_m":\#(i * 50)}"#)
        }
        events.append(try JSONValue.parse(#"{"type":"telemetry","user":"kim","device":"w","session":"k","ts":\#(start + 3_540_000)}"#))
        _ = try daemon.request(["op": "submit", "events": .array(events)])
        #expect(try records.receive(count: 1, timeout: 1000).isEmpty, "not before the session went quiet")
        let got = try records.receive(count: 1).first?.payload["event"]
        #expect(got?["user"] == "pat" && got?["distance_m"] == 1000 && got?["time_s"] == 200 && got?["previous_s"] == .null)
        #expect(got?["id"] == "pr:pat:watch:s1:1000")
        daemon.terminate()
    }
}

extension JSONValue {
    /// A number rounded to `digits` decimals, as the daemon publishes percentiles.
    func rounded(to digits: Int) -> JSONValue {
        guard case .number(let value) = self else { return self }
        let scale = pow(10, Double(digits))
        return .number((value * scale).rounded() / scale)
    }
}
