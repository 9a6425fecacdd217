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
          - {id: session, on: session.attended, points: 5}
          - {id: coach, on: session.attended, when: {with_coach: {equals: true}}, multiply: 2}
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
                Self.workout("w1", km: 5.4), Self.event("session.attended", "s1", #","with_coach":true"#),
                Self.workout("w1", km: 5.4),  // repeated in the same request
                Self.event("nonsense", "x1"),
            ],
        ])
        #expect(first["accepted"] == 2)
        #expect(first["duplicates"] == 1)
        #expect(first["rejected"]?.arrayValue?.first?["code"] == "unsupported_type")
        // A retry of the same ids is answered as duplicates and changes nothing.
        let retry = try daemon.request(["op": "submit", "events": [Self.workout("w1", km: 5.4), Self.event("session.attended", "s1")]])
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
        #expect(activity.map(\.topic) == ["activity.workout", "activity.session.attended"])
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
        let batch = JSONValue.array((0..<25).map { Self.event("session.attended", "s\($0)", #","with_coach":true"#) })
        try push.send(batch.serialized())
        try push.send(Self.event("session.attended", "s3").serialized())  // a repeated id
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
}
