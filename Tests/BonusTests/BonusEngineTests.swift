import Bonus
import ClubKernel
import Foundation
import JSON
import Testing

@Suite struct BonusEngineTests {
    static let rulesText = """
        time_zone: Europe/Moscow
        caps: {daily: 100, weekly: 250}
        expire_after: 30d
        rules:
          - {id: workout, on: workout, points: 10}
          - {id: km, on: workout, points: 2, per: {field: distance_m, unit: 1000}}
          - {id: long, on: workout, when: {distance_m: {at_least: 5000}, sport: {one_of: [run, ride]}}, points: 5}
          - {id: session, on: session.attended, points: 20}
          - {id: coach, on: session.attended, when: {with_coach: {equals: true}}, multiply: 2}
          - {id: streak, on: [workout, session.attended], streak_days: 3, points: 7}
        """

    let engine = BonusEngine(rules: try! BonusRules.parse(rulesText, file: "bonus.yaml"))
    /// Thursday 2025-11-27 12:00 in Moscow (UTC+3).
    static let noon: Int64 = 1_764_234_000_000
    static let day: Int64 = 86_400_000

    var offset: Int64 = 0

    mutating func event(_ type: String, _ fields: [String: JSONValue] = [:], at: Int64 = noon, user: String = "u1") -> ActivityEvent {
        offset += 1
        var body = JSONObject()
        body["type"] = .string(type)
        body["id"] = .string("e\(offset)")
        body["user"] = .string(user)
        for (k, v) in fields { body[k] = v }
        return ActivityEvent(offset: offset, id: "e\(offset)", type: type, user: user, at: at, body: body)
    }

    func points(_ entries: [LedgerEntry]) -> [String: Int] {
        Dictionary(entries.map { ($0.rule, $0.points) }, uniquingKeysWith: +)
    }

    @Test mutating func fixedPerUnitAndConditionalAwards() {
        var account = BonusAccount()
        let short = engine.apply(event("workout", ["distance_m": 4999, "sport": "run"]), to: &account, now: Self.noon)
        #expect(points(short.entries) == ["workout": 10, "km": 8])
        let long = engine.apply(event("workout", ["distance_m": 5000, "sport": "ride"]), to: &account, now: Self.noon)
        #expect(points(long.entries) == ["workout": 10, "km": 10, "long": 5])
        let walk = engine.apply(event("workout", ["distance_m": 8000, "sport": "walk"]), to: &account, now: Self.noon)
        #expect(points(walk.entries)["long"] == nil)
        #expect(account.balance == 10 + 8 + 10 + 10 + 5 + 10 + 16)
        #expect(walk.entries.last?.balance == account.balance)
    }

    /// curve mode: what a device asserts about its own user earns nothing (not even a streak
    /// day); the same workout from a service earns its points.
    @Test mutating func selfAssertedEventsEarnNothing() {
        var account = BonusAccount()
        let e = event("workout", ["distance_m": 5000, "sport": "run"])
        let fromDevice = ActivityEvent(offset: e.offset, id: e.id, type: e.type, user: e.user, at: e.at, json: e.json, sender: "device:w1")
        #expect(fromDevice.isSelfAsserted)
        #expect(engine.apply(fromDevice, to: &account, now: Self.noon).entries.isEmpty && account.balance == 0)
        let fromService = ActivityEvent(offset: e.offset, id: e.id, type: e.type, user: e.user, at: e.at, json: e.json, sender: "service:shop")
        #expect(points(engine.apply(fromService, to: &account, now: Self.noon).entries) == ["workout": 10, "km": 10, "long": 5])
    }

    @Test mutating func multiplierDoublesTheEventsAwards() {
        var account = BonusAccount()
        let plain = engine.apply(event("session.attended", ["with_coach": false]), to: &account, now: Self.noon)
        let coached = engine.apply(event("session.attended", ["with_coach": true]), to: &account, now: Self.noon)
        #expect(points(plain.entries)["session"] == 20)
        #expect(points(coached.entries)["session"] == 40)
    }

    @Test mutating func dailyAndWeeklyCapsClipAwards() {
        var account = BonusAccount()
        var total = 0
        for _ in 0..<6 { total += engine.apply(event("session.attended"), to: &account, now: Self.noon).entries.reduce(0) { $0 + $1.points } }
        #expect(total == 100)  // 5 × 20, then the daily cap
        for d in 1...6 {
            for _ in 0..<6 {
                _ = engine.apply(event("session.attended", at: Self.noon + Int64(d) * Self.day), to: &account, now: Self.noon)
            }
        }
        // Thursday 27th to Sunday 30th is one ISO week, capped at 250 (streak points included);
        // Monday 1st starts a new week, whose three days would give 300 but are capped at 250.
        #expect(account.balance == 250 + 250)
    }

    @Test mutating func streaksCountLocalDaysAcrossMidnight() {
        var account = BonusAccount()
        // 23:30 and 00:30 Moscow time are two days there, though both fall on one UTC day.
        let lateEvening = Self.noon + 11 * 3_600_000 + 1_800_000
        _ = engine.apply(event("session.attended", at: Self.noon - 2 * Self.day), to: &account, now: Self.noon)
        _ = engine.apply(event("session.attended", at: lateEvening - Self.day), to: &account, now: Self.noon)
        let third = engine.apply(event("session.attended", at: lateEvening + 3_600_000 - Self.day), to: &account, now: Self.noon)
        #expect(points(third.entries)["streak"] == 7)
        // A gap of a day starts the run again.
        _ = engine.apply(event("workout", at: Self.noon + 2 * Self.day), to: &account, now: Self.noon)
        let again = engine.apply(event("workout", at: Self.noon + 3 * Self.day), to: &account, now: Self.noon)
        #expect(points(again.entries)["streak"] == nil)
    }

    @Test mutating func spendsTakeOldestPointsAndRefuseOverdrafts() {
        var account = BonusAccount()
        _ = engine.apply(event("session.attended"), to: &account, now: Self.noon)
        let over = engine.apply(event("bonus.spent", ["points": 21]), to: &account, now: Self.noon)
        #expect(over.refusal?.code == "insufficient_balance")
        #expect(account.balance == 20)
        let bad = engine.apply(event("bonus.spent", ["points": -3]), to: &account, now: Self.noon)
        #expect(bad.refusal?.code == "invalid_spend")
        let spent = engine.apply(event("bonus.spent", ["points": 20]), to: &account, now: Self.noon)
        #expect(spent.refusal == nil && spent.entries.map(\.points) == [-20] && account.balance == 0)
    }

    @Test mutating func unspentPointsExpireAfterTheirTime() {
        var account = BonusAccount()
        _ = engine.apply(event("session.attended"), to: &account, now: Self.noon)
        _ = engine.apply(event("bonus.spent", ["points": 5]), to: &account, now: Self.noon)
        #expect(engine.expire(&account, user: "u1", now: Self.noon + 30 * Self.day - 1).isEmpty)
        let expired = engine.expire(&account, user: "u1", now: Self.noon + 30 * Self.day)
        #expect(expired.map(\.points) == [-15])  // the session's 20, less the 5 spent
        #expect(expired.allSatisfy { $0.kind == .expire } && account.balance == 0)
    }

    @Test mutating func lotChangesRecordEveryAwardSpendAndExpiry() {
        var account = BonusAccount()
        _ = engine.apply(event("session.attended"), to: &account, now: Self.noon)  // e1: 20
        _ = engine.apply(event("discussion.posted"), to: &account, now: Self.noon)  // no rule: no lot
        let award = account.takeLotChanges()
        #expect(award == [.write(.init(event: "e1", rule: "session", remaining: 20, expiresAt: Self.noon + 30 * Self.day))])
        _ = engine.apply(event("bonus.spent", ["points": 8]), to: &account, now: Self.noon)
        #expect(account.takeLotChanges() == [.write(.init(event: "e1", rule: "session", remaining: 12, expiresAt: Self.noon + 30 * Self.day))])
        _ = engine.expire(&account, user: "u1", now: Self.noon + 31 * Self.day)
        #expect(account.takeLotChanges() == [.delete(event: "e1", rule: "session")])
        #expect(account.lots.isEmpty && account.balance == 0)
    }

    @Test mutating func accountsSurviveSerialization() throws {
        var account = BonusAccount()
        for d in 0..<4 { _ = engine.apply(event("workout", ["distance_m": 3000], at: Self.noon + Int64(d) * Self.day), to: &account, now: Self.noon) }
        _ = account.takeLotChanges()
        #expect(account.lots.count == 9)  // workout and km for each of 4 days, and the 3-day streak
        #expect(try BonusAccount(serialized: account.serialized(), lots: account.lots).serialized() == account.serialized())
        #expect(try BonusAccount(serialized: account.serialized(), lots: account.lots).balance == account.balance)
    }
}
