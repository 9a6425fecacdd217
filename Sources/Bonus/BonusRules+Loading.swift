import ClubKernel
import Definitions
import Events
import Foundation
import JSON
import Yams

extension BonusRules: DefinitionFile {
    public static let fileDescription = "bonus rules file"

    /// The programme the daemon runs when no rules file is configured.
    public static let embeddedDefault = """
        # Points for workouts and club activity; see docs/bonus.md.
        time_zone: UTC
        caps: {daily: 500, weekly: 2000}
        expire_after: 365d
        rules:
          - {id: workout, on: workout, points: 10}
          - {id: workout-km, on: workout, points: 1, per: {field: distance_m, unit: 1000}}
          - {id: long-run, on: workout, when: {sport: {equals: run}, distance_m: {at_least: 10000}}, points: 25}
          - {id: session, on: session.attended, points: 15}
          - {id: session-minutes, on: session.attended, points: 1, per: {field: minutes, unit: 10}}
          - {id: coach-x2, on: session.attended, when: {with_coach: {equals: true}}, multiply: 2}
          - {id: tracked-workout, on: workout.finished, when: {moving_time_s: {at_least: 600}}, points: 5}
          - {id: discussion, on: discussion.posted, points: 2}
          - {id: ran-together, on: community.ran_together, points: 10}
          - {id: programme-step, on: training.step_completed, points: 5}
          - {id: programme-completed, on: training.programme_completed, points: 200}
          - {id: streak-3, on: [workout, session.attended], streak_days: 3, points: 30}
        """

    /// Reads the rules; nothing is returned unless every rule is valid.
    public static func parse(_ root: inout YAMLMapping) throws -> BonusRules {
        let zone = root.timeZone("time_zone") ?? TimeZone(identifier: "UTC")!
        var result = BonusRules(rules: [], calendar: LocalCalendar(timeZone: zone))
        if var caps = root.nested("caps") {
            if caps.has("daily") { result.dailyCap = caps.int("daily", default: 0, in: 1...100_000_000) }
            if caps.has("weekly") { result.weeklyCap = caps.int("weekly", default: 0, in: 1...100_000_000) }
            root.absorb(caps)
        }
        if root.has("expire_after") { result.expiryMillis = root.duration("expire_after", default: 0, min: 1) }
        if let list = root.mappings("rules", element: "rule with id, on and an effect") {
            var ids: Set<String> = []
            for var m in list {
                if let rule = rule(&m) {
                    if ids.insert(rule.id).inserted { result.rules.append(rule) } else {
                        m.fail("duplicate rule id '\(rule.id)'", at: m.node("id"))
                    }
                }
                root.absorb(m)
            }
        } else {
            root.fail("missing required key 'rules' (a list of rules)")
        }
        root.rejectUnknownKeys()
        guard root.errors.isEmpty else { throw DefinitionErrors(root.errors) }
        return result
    }

    private static func rule(_ m: inout YAMLMapping) -> BonusRule? {
        let id = m.string("id", required: true) ?? ""
        if m.has("id"), id.isEmpty || id.contains(where: { $0.isWhitespace }) {
            m.fail("'id' must be a non-empty word without spaces", at: m.node("id"))
        }
        let on = eventTypes(&m)
        let conditions = self.conditions(&m)
        let effects = ["points", "multiply"].filter { m.has($0) }
        var effect: BonusRule.Effect?
        if m.has("multiply") {
            effect = .multiplier(factor: m.double("multiply", default: 1, in: 0...100))
            if m.has("points") || m.has("streak_days") || m.has("per") {
                m.fail("a 'multiply' rule takes no 'points', 'per' or 'streak_days'", at: m.node("multiply"))
            }
        } else if m.has("points") {
            let points = m.int("points", default: 0, in: 1...1_000_000)
            if m.has("streak_days") {
                effect = .streak(days: m.int("streak_days", default: 1, in: 1...366), points: points)
                if m.has("per") { m.fail("a streak rule takes no 'per'", at: m.node("per")) }
            } else {
                effect = .award(points: points, per: perUnit(&m))
            }
        }
        if effects.isEmpty { m.fail("a rule needs an effect: 'points' (with optional 'per' or 'streak_days') or 'multiply'") }
        guard let effect, !id.isEmpty, !on.isEmpty, m.errors.isEmpty else { return nil }
        return BonusRule(id: id, on: on, conditions: conditions, effect: effect)
    }

    private static func eventTypes(_ m: inout YAMLMapping) -> Set<String> {
        let types = m.names("on", expected: "event types such as workout or session.attended") {
            $0 == "workout" || EventDecoder.isActivityType($0)
        }
        if types == nil { m.fail("missing required key 'on' (an event type or a list of them)") }
        return Set(types ?? [])
    }

    private static func conditions(_ m: inout YAMLMapping) -> [Condition] {
        guard var when = m.nested("when") else { return [] }
        var result: [Condition] = []
        for field in when.keys {
            guard var test = when.nested(field) else { continue }
            let tests = ["at_least", "at_most", "equals", "one_of"].filter { test.has($0) }
            if tests.isEmpty {
                test.fail("condition on '\(field)' needs one of at_least, at_most, equals, one_of")
            }
            if test.has("at_least") { result.append(Condition(field: field, test: .atLeast(test.double("at_least", default: 0, in: -1e15...1e15)))) }
            if test.has("at_most") { result.append(Condition(field: field, test: .atMost(test.double("at_most", default: 0, in: -1e15...1e15)))) }
            if let node = test.node("equals") {
                if let value = jsonScalar(node) { result.append(Condition(field: field, test: .equals(value))) } else {
                    test.fail("'equals' takes a single value", at: node)
                }
            }
            if let node = test.node("one_of") {
                if case .sequence(let list) = node, case let values = list.compactMap(jsonScalar), values.count == list.count, !values.isEmpty {
                    result.append(Condition(field: field, test: .oneOf(values)))
                } else {
                    test.fail("'one_of' takes a non-empty list of single values", at: node)
                }
            }
            when.absorb(test)
        }
        m.absorb(when)
        return result
    }

    private static func perUnit(_ m: inout YAMLMapping) -> BonusRule.PerUnit? {
        guard var per = m.nested("per") else { return nil }
        let field = per.string("field", required: true) ?? ""
        let unit = per.double("unit", default: 1, in: 1e-9...1e12)
        m.absorb(per)
        return field.isEmpty ? nil : BonusRule.PerUnit(field: field, unit: unit)
    }

    /// A YAML scalar as the JSON value an event field would hold.
    private static func jsonScalar(_ node: Node) -> JSONValue? {
        guard case .scalar(let scalar) = node else { return nil }
        if scalar.style == .plain {
            if let bool = node.bool { return .bool(bool) }
            if let number = node.float { return .number(number) }
        }
        return .string(scalar.string)
    }
}
