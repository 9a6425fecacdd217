import ClubTestKit
import Foundation
import JSON
import Testing

/// The Activity subsystem through a real clubd: submit, the event log, the bonus stage,
/// the ledger, the `activity.` and `bonus.` topics, reload.
@Suite(.serialized) struct ActivityEndToEndTests {
    static let now = Int64(Date().timeIntervalSince1970 * 1000)
    static let rules = """
        caps: {daily: 100}
        rules:
          - {id: workout, on: workout, points: 10}
          - {id: km, on: workout, points: 1, per: {field: distance_m, unit: 1000}}
          - {id: session, on: challenge.completed, points: 5}
          - {id: coach, on: challenge.completed, when: {with_coach: {equals: true}}, multiply: 2}
        """

    static func workout(_ id: String, user: String = "u-1", km: Double, ts: Int64 = now - 3_600_000) -> JSONValue {
        try! JSONValue.parse(
            #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"device","sport":"run","start":\#(ts),"ts":\#(ts),"duration_s":1800,"distance_m":\#(km * 1000)}"#)
    }

    static func event(_ type: String, _ id: String, user: String = "u-1", _ extra: String = "") -> JSONValue {
        try! JSONValue.parse(#"{"type":"\#(type)","id":"\#(id)","user":"\#(user)","ts":\#(now - 60_000)\#(extra)}"#)
    }

    @Test func submittedEventsEarnPointsOnceAndShowInLedgerBalanceAndTopics() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeBonusRules(Self.rules)
        try daemon.start(extraArguments: flags)
        let bonusTopic = try daemon.subscriber("bonus.u-1")
        let activityTopic = try daemon.subscriber("activity.")

        let first = try daemon.request([
            "op": "submit",
            "events": [
                Self.workout("w1", km: 5.4), Self.event("challenge.completed", "s1", #","with_coach":true"#),
                Self.workout("w1", km: 5.4),  // repeated in the same request
                Self.event("nonsense", "x1"),
            ],
        ])
        #expect(first["accepted"] == 2)
        #expect(first["duplicates"] == 1)
        #expect(first["rejected"]?.arrayValue?.first?["code"] == "unsupported_type")
        // A retry of the same ids is answered as duplicates and changes nothing.
        let retry = try daemon.request(["op": "submit", "events": [Self.workout("w1", km: 5.4), Self.event("challenge.completed", "s1")]])
        #expect(retry["accepted"] == 0 && retry["duplicates"] == 2)

        try daemon.waitForBonus(offset: 2)
        #expect(try daemon.request(["op": "balance", "user": "u-1"])["points"] == 25)
        let ledger = try daemon.request(["op": "ledger", "user": "u-1"])["entries"]?.arrayValue ?? []
        #expect(ledger.map { "\($0["event"]!.stringValue!)/\($0["rule"]!.stringValue!)/\($0["points"]!.int64Value!)" } == [
            "w1/workout/10", "w1/km/5", "s1/session/10",
        ])
        let published = try bonusTopic.receive(count: 3)
        #expect(published.map { $0.payload["balance"]?.int64Value } == [10, 15, 25])
        let activity = try activityTopic.receive(count: 2)
        #expect(activity.map(\.topic) == ["activity.workout", "activity.challenge.completed"])
        #expect(activity.map { $0.payload["offset"]?.int64Value } == [1, 2])
        #expect(activity[0].payload["event"]?["distance_m"] == 5400)
        daemon.terminate()
    }

    @Test func spendsBeyondTheBalanceAreRefusedWithAReason() throws {
        let daemon = try DaemonProcess()
        try daemon.start(extraArguments: try daemon.writeBonusRules(Self.rules))
        let rejected = try daemon.subscriber("rejected")
        _ = try daemon.request(["op": "submit", "events": [Self.workout("w1", km: 3)]])
        _ = try daemon.request(["op": "submit", "events": [Self.event("bonus.spent", "p1", #","points":14"#)]])
        _ = try daemon.request(["op": "submit", "events": [Self.event("bonus.spent", "p2", #","points":13"#)]])
        try daemon.waitForBonus(offset: 3)
        let refusal = try rejected.receive(count: 1)
        #expect(refusal.first?.payload["code"] == "insufficient_balance")
        #expect(refusal.first?.payload["event"] == "p1")
        #expect(try daemon.request(["op": "balance", "user": "u-1"])["points"] == 0)
        let kinds = try daemon.request(["op": "ledger", "user": "u-1"])["entries"]?.arrayValue?.map { $0["kind"] }
        #expect(kinds == ["award", "award", "spend"])
        daemon.terminate()
    }

    @Test func ingestedEventsJoinTheLogAndCapsHold() throws {
        let daemon = try DaemonProcess()
        try daemon.start(extraArguments: try daemon.writeBonusRules(Self.rules))
        let push = try daemon.pusher()
        // 25 sessions with a coach, 10 points each, one day: the daily cap of 100 holds.
        let batch = JSONValue.array((0..<25).map { Self.event("challenge.completed", "s\($0)", #","with_coach":true"#) })
        try push.send(batch.serialized())
        try push.send(Self.event("challenge.completed", "s3").serialized())  // a repeated id
        try daemon.waitForBonus(offset: 25)
        #expect(try daemon.request(["op": "balance", "user": "u-1"])["points"] == 100)
        #expect(try daemon.request(["op": "ledger", "user": "u-1"])["entries"]?.arrayValue?.count == 10)
        daemon.terminate()
    }

    @Test func reloadKeepsTheOldRulesWhenTheNewOnesAreInvalid() throws {
        let daemon = try DaemonProcess()
        try daemon.start(extraArguments: try daemon.writeBonusRules(Self.rules))
        try daemon.writeBonusRules("rules:\n  - {id: w, on: workout, points: -1}\n")
        let refused = try daemon.request(["op": "reload"])
        #expect(refused["error"]?["code"] == "invalid_definitions")
        #expect(refused["error"]?["message"]?.stringValue?.contains("bonus.yaml:2:") == true)
        _ = try daemon.request(["op": "submit", "events": [Self.workout("w1", km: 1)]])
        try daemon.waitForBonus(offset: 1)
        #expect(try daemon.request(["op": "balance", "user": "u-1"])["points"] == 11)

        try daemon.writeBonusRules("rules:\n  - {id: w, on: workout, points: 100}\n")
        #expect(try daemon.request(["op": "reload"])["ok"] == true)
        _ = try daemon.request(["op": "submit", "events": [Self.workout("w2", km: 1)]])
        try daemon.waitForBonus(offset: 2)
        #expect(try daemon.request(["op": "balance", "user": "u-1"])["points"] == 111)
        daemon.terminate()
    }

    @Test func balanceAndLedgerRefuseBadRequests() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        #expect(try daemon.request(["op": "balance"])["error"]?["code"] == "missing_field")
        #expect(try daemon.request(["op": "ledger", "user": 7])["error"]?["code"] == "wrong_type")
        #expect(try daemon.request(["op": "ledger", "user": "u", "limit": 0])["error"]?["code"] == "wrong_type")
        #expect(try daemon.request(["op": "balance", "user": "nobody"])["points"] == 0)
        daemon.terminate()
    }

    @Test func finishedSessionsAreRaisedAsActivityEventsOnceAndEarnPoints() throws {
        let daemon = try DaemonProcess(pipelines: [
            "sessions.yaml": DaemonProcess.sessionPipeline,
            "boards.yaml": "name: boards\npersonal_records_idle: 2s\nleaderboards: []\n",
        ])
        let flags = try daemon.writeBonusRules(
            "rules:\n  - {id: tracked, on: workout.finished, when: {distance_m: {at_least: 1000}}, points: 7}\n")
        try daemon.start(extraArguments: flags)
        let feed = try daemon.subscriber("activity.workout.finished")
        let t0 = Self.now - 3_600_000
        func sample(_ user: String, _ ts: Int64, _ distance: Double) -> JSONValue {
            try! JSONValue.parse(#"{"type":"telemetry","user":"\#(user)","device":"w","session":"s","ts":\#(ts),"distance_m":\#(distance)}"#)
        }
        // u-1 runs 1.2 km in 4 minutes, u-2 only 300 m (same device and session names, same
        // times: different users, so no duplicates); 2 s of quiet on the daemon's clock closes both.
        var events = (0...24).map { sample("u-1", t0 + Int64($0) * 10_000, Double($0) * 50) }
        events += (0...6).map { sample("u-2", t0 + Int64($0) * 10_000, Double($0) * 50) }
        _ = try daemon.request(["op": "submit", "events": .array(events)])
        let raised = try feed.receive(count: 2)
        #expect(Set(raised.compactMap { $0.payload["event"]?["user"]?.stringValue }) == ["u-1", "u-2"])
        let u1 = raised.first { $0.payload["event"]?["user"] == "u-1" }?.payload["event"]
        #expect(u1?["id"] == .string("sessions:u-1:\(t0)"))
        #expect(u1?["distance_m"] == 1200)
        #expect(u1?["ts"] == .number(Double(t0 + 240_000 + 30_000)))  // last sample + gap

        try daemon.waitForBonus(offset: 2)
        #expect(try daemon.request(["op": "balance", "user": "u-1"])["points"] == 7)
        #expect(try daemon.request(["op": "balance", "user": "u-2"])["points"] == 0)
        // A restart replays the journal and raises the same windows (and u-1's 1 km record)
        // again: they are duplicates.
        try daemon.waitForBonus(offset: 3)
        let logged = try daemon.request(["op": "health"])["bonus_offset"]
        #expect(logged == 3)  // two finished sessions and u-1's first 1 km record
        #expect(daemon.terminate() == 0)
        try daemon.start(extraArguments: flags)
        _ = try daemon.request(["op": "submit", "events": .array(events)])
        Thread.sleep(forTimeInterval: 3.5)  // past the 2 s of quiet that would close anything new
        #expect(try daemon.request(["op": "health"])["bonus_offset"] == logged)
        #expect(try daemon.request(["op": "ledger", "user": "u-1"])["entries"]?.arrayValue?.count == 1)
        daemon.terminate()
    }
}
