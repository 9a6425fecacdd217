import Bonus
import ClubKernel
import Foundation
import JSON
import Offers
import Testing

@Suite struct OfferEngineTests {
    static let noon: Int64 = 1_795_780_800_000
    static let day: Int64 = 86_400_000

    static func rules(_ yaml: String) throws -> OfferRules { try OfferRules.parse("offers:\n" + yaml, file: "t.yaml") }

    /// Numbers events 1, 2, 3 … as the activity log would.
    final class EventLog {
        var offset: Int64 = 0

        func event(_ type: String, user: String = "u1", at: Int64 = noon, _ fields: [(String, JSONValue)] = []) -> ActivityEvent {
            offset += 1
            let body = JSONObject([("type", .string(type)), ("id", .string("e\(offset)")), ("user", .string(user))] + fields)
            return ActivityEvent(offset: offset, id: "e\(offset)", type: type, user: user, at: at, body: body)
        }
    }

    let log = EventLog()

    func event(_ type: String, user: String = "u1", at: Int64 = noon, _ fields: [(String, JSONValue)] = []) -> ActivityEvent {
        log.event(type, user: user, at: at, fields)
    }

    static func rule(_ id: String, _ extra: String) -> String {
        """
          - id: \(id)
            title: \(id)
            offer: {text: t, discount_percent: 10, valid_for: 7d}
        \(extra)

        """
    }

    @Test func highestPriorityRuleWinsOnePerTrigger() throws {
        var engine = OfferEngine(
            rules: try Self.rules(
                Self.rule("low", "    on: session.attended\n    audience: user\n    priority: 1")
                    + Self.rule("high", "    on: session.attended\n    audience: user\n    priority: 5\n    when: event.minutes >= 30")
                    + Self.rule("other", "    on: discussion.posted\n    audience: user")))
        let long = engine.apply(event("session.attended", [("minutes", 45)]))
        #expect(long.map(\.rule) == ["high"])
        let short = engine.apply(event("session.attended", [("minutes", 10)]))
        #expect(short.map(\.rule) == ["low"])  // the condition of 'high' fails: the next one issues
        #expect(engine.apply(event("group.joined")).isEmpty)
        #expect(long[0].audience == .user("u1") && long[0].validUntil == Self.noon + 7 * Self.day)
        #expect(long[0].code.hasPrefix("HIGH-") && long[0].code.count == 17)
    }

    @Test func oncePerAndBudgetsHoldExactly() throws {
        var engine = OfferEngine(
            rules: try Self.rules(
                Self.rule("a", "    on: workout\n    audience: user\n    caps: {once_per: 7d, budget: 3}")))
        func workout(_ user: String, _ at: Int64) -> [IssuedOffer] {
            engine.apply(
                event("workout", user: user, at: at, [("source", "device"), ("sport", "run"), ("start", .number(Double(at))), ("duration_s", 60)]))
        }
        // Hundreds of events of one user at once: one offer.
        var issued = 0
        for i in 0..<300 { issued += workout("u1", Self.noon + Int64(i) * 120_000).count }
        #expect(issued == 1)
        #expect(workout("u1", Self.noon + 7 * Self.day).count == 1)  // a week later: again
        #expect(workout("u2", Self.noon).count == 1)
        #expect(workout("u3", Self.noon).count == 0)  // budget of 3 used up
        #expect(engine.issuedCount("a") == 3)
    }

    @Test func regionBudgetsCountTheUsersRegion() throws {
        var engine = OfferEngine(
            rules: try Self.rules(
                Self.rule("a", "    on: discussion.posted\n    audience: user\n    caps: {region_budget: {RU-MOW: 2, other: 1}}")))
        for (user, region) in [("m1", "RU-MOW"), ("m2", "RU-MOW"), ("m3", "RU-MOW"), ("s1", "RU-SPE"), ("s2", "RU-SPE")] {
            _ = engine.apply(event("profile", user: user, [("region", .string(region))]))
        }
        let winners = ["m1", "m2", "m3", "s1", "s2", "x1", "x2"].filter { !engine.apply(event("discussion.posted", user: $0)).isEmpty }
        #expect(winners == ["m1", "m2", "s1", "x1"])  // x1 has no region: 'unknown', an other region
    }

    @Test func regionalAndGeneralAudiences() throws {
        var engine = OfferEngine(
            rules: try Self.rules(
                Self.rule("reg", "    on: competition.finished\n    audience: {regions: [RU-MOW, RU-SPE]}\n    caps: {once_per: 1d}")
                    + Self.rule("all", "    on: group.joined\n    audience: everyone")))
        let regional = engine.apply(event("competition.finished"))
        #expect(regional.map(\.audience) == [.region("RU-MOW"), .region("RU-SPE")])
        #expect(regional.map { $0.audience.topic } == ["offer.region.RU-MOW", "offer.region.RU-SPE"])
        #expect(engine.apply(event("competition.finished", user: "u2")).isEmpty)  // once a day per region
        #expect(engine.apply(event("group.joined")).map(\.audience.topic) == ["offer.all"])
    }

    @Test func schedulesIssueEachOccurrenceOnce() throws {
        var engine = OfferEngine(
            rules: try Self.rules(
                Self.rule("weekly", "    schedule: {at: '2026-11-27T09:00:00Z', every: 7d}\n    audience: {regions: [RU-SPE]}")))
        let start: Int64 = 1_795_770_000_000  // 2026-11-27T09:00:00Z
        #expect(engine.due(now: start - 1).offers.isEmpty)
        #expect(engine.due(now: start).offers.map(\.issuedAt) == [start])
        #expect(engine.due(now: start + Self.day).offers.isEmpty)
        // Down for three weeks: the latest occurrence is issued once, late.
        #expect(engine.due(now: start + 22 * Self.day).offers.map(\.issuedAt) == [start + 21 * Self.day])
        #expect(engine.due(now: start + 22 * Self.day).offers.isEmpty)
    }

    @Test func restoredCountersContinue() throws {
        let rules = try Self.rules(Self.rule("a", "    on: group.joined\n    audience: user\n    caps: {budget: 2}"))
        var first = OfferEngine(rules: rules)
        let issued = first.apply(event("group.joined", user: "a")) + first.apply(event("group.joined", user: "b"))
        var restarted = OfferEngine(rules: rules)
        var counters = OfferEngine.Counters()
        counters.issued["a"] = issued.count
        restarted.restore(counters)
        #expect(restarted.apply(event("group.joined", user: "c")).isEmpty)
        // Codes follow from rule, trigger and audience: a replay issues the same code.
        var replay = OfferEngine(rules: rules)
        log.offset = 0
        #expect(replay.apply(event("group.joined", user: "a")).map(\.code) == [issued[0].code])
    }
}
