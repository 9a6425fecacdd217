import Bonus
import ClubKernel
import Foundation
import JSON
import Offers
import Testing

@Suite struct ExpressionTests {
    static let moscow = LocalCalendar(timeZone: TimeZone(identifier: "Europe/Moscow")!)
    /// 2026-11-27 (a Friday) 12:00 UTC.
    static let noon: Int64 = 1_795_780_800_000

    func context(_ type: String = "workout", _ fields: [String: JSONValue] = [:], facts: UserFacts = UserFacts(), balance: Int? = nil)
        -> EvaluationContext
    {
        var body = JSONObject([("type", .string(type)), ("id", "e1"), ("user", "u1")])
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { body[key] = value }
        let event = ActivityEvent(offset: 1, id: "e1", type: type, user: "u1", at: Self.noon, body: body)
        return EvaluationContext(event: event, facts: facts, balance: balance, calendar: Self.moscow)
    }

    func evaluate(_ text: String, _ context: EvaluationContext, types: [String] = ["workout"]) throws -> Value {
        let expression = try ExpressionParser.condition("\(text) == \(text)", schema: EventSchema(types: types))
        guard case .compare(_, let left, _) = expression else { fatalError("unexpected shape") }
        return left.evaluate(in: context)
    }

    func holds(_ text: String, _ context: EvaluationContext, types: [String] = ["workout"]) throws -> Bool {
        try ExpressionParser.condition(text, schema: EventSchema(types: types)).holds(in: context)
    }

    @Test func arithmeticFollowsPrecedence() throws {
        let c = context()
        #expect(try evaluate("1 + 2 * 3", c) == .number(7))
        #expect(try evaluate("(1 + 2) * 3", c) == .number(9))
        #expect(try evaluate("10 - 4 - 3", c) == .number(3))
        #expect(try evaluate("-2 * -3", c) == .number(6))
        #expect(try evaluate("7 % 4 + 1_000", c) == .number(1003))
        #expect(try evaluate("1 / 0", c) == .missing)
    }

    @Test func logicAndComparisons() throws {
        let c = context("workout", ["distance_m": 6000, "sport": "run", "gear": "shoe-1"])
        #expect(try holds("event.distance_m >= 5000 and event.sport == 'run'", c))
        #expect(try !holds("event.distance_m >= 5000 and event.sport == \"ride\"", c))
        #expect(try holds("event.sport == 'ride' or not (event.distance_m < 5000)", c))
        #expect(try holds("event.sport in ['run', 'walk']", c))
        #expect(try holds("event.sport not in ['ride']", c))
        #expect(try holds("starts_with(event.gear, 'shoe') and len(event.gear) == 6", c))
        #expect(try holds("lower('RUN') == event.sport and min(3, 4) == 3 and max(3, 4) == 4", c))
        #expect(try holds("abs(-2.5) == 2.5 and round(2.5) == 3 and floor(2.5) == 2", c))
    }

    @Test func missingFieldsMakeComparisonsFalse() throws {
        let c = context("workout", ["distance_m": 6000])
        #expect(try !holds("event.avg_hr > 100", c))
        #expect(try !holds("event.avg_hr <= 100", c))
        #expect(try holds("not has(event.avg_hr)", c))
        #expect(try !holds("event.avg_hr + 1 > 0", c))
        #expect(try holds("has(event.distance_m)", c))
    }

    @Test func timeFunctionsUseTheRulesZone() throws {
        let c = context()
        #expect(try evaluate("hour(event.ts)", c) == .number(15))  // 12:00 UTC is 15:00 in Moscow
        #expect(try evaluate("weekday(event.ts)", c) == .number(5))  // Friday
    }

    @Test func userFactsComeFromCountedWorkouts() throws {
        var facts = UserFacts()
        func workout(_ id: String, source: String, start: Int64, km: Double, gear: String? = nil) -> ActivityEvent {
            var body = JSONObject([
                ("type", "workout"), ("id", .string(id)), ("user", "u1"), ("source", .string(source)), ("sport", "run"),
                ("start", .number(Double(start))), ("duration_s", 1800), ("distance_m", .number(km * 1000)),
            ])
            if let gear { body["gear"] = .string(gear) }
            return ActivityEvent(offset: 1, id: id, type: "workout", user: "u1", at: start, body: body)
        }
        let day: Int64 = 86_400_000
        // The gear, in use from 60 days ago; no default sport, so only workouts naming it go to it.
        facts.learn(
            ActivityEvent(
                offset: 1, id: "g", type: "gear.added", user: "u1", at: Self.noon - 60 * day,
                body: JSONObject([("type", "gear.added"), ("id", "g"), ("user", "u1"), ("gear", "shoe"), ("kind", "shoes")])),
            sourcePriority: [])
        facts.learn(workout("a", source: "device", start: Self.noon - day, km: 10, gear: "shoe"), sourcePriority: ["device"])
        // The same run from Strava: a copy, not counted.
        facts.learn(workout("b", source: "strava", start: Self.noon - day + 60_000, km: 10.2, gear: "shoe"), sourcePriority: ["device"])
        // Three weeks earlier, same month? 2026-11-06: yes.
        facts.learn(workout("c", source: "device", start: Self.noon - 21 * day, km: 5, gear: "shoe"), sourcePriority: ["device"])
        facts.learn(workout("d", source: "device", start: Self.noon - 40 * day, km: 7), sourcePriority: ["device"])
        facts.learn(
            ActivityEvent(
                offset: 2, id: "p", type: "profile", user: "u1", at: Self.noon,
                body: JSONObject([("type", "profile"), ("id", "p"), ("user", "u1"), ("region", "RU-SPE"), ("interests", ["running"])])),
            sourcePriority: [])
        let c = context("workout", ["gear": "shoe"], facts: facts, balance: 120)
        #expect(try evaluate("user.distance_week_m", c) == .number(10_000))
        #expect(try evaluate("user.distance_month_m", c) == .number(15_000))
        #expect(try evaluate("user.distance_total_m", c) == .number(22_000))
        #expect(try evaluate("user.workouts_month", c) == .number(2))
        #expect(try evaluate("user.workouts_total", c) == .number(3))
        #expect(try evaluate("user.gear_distance_m", c) == .number(15_000))
        #expect(try holds("user.region == 'RU-SPE' and 'running' in user.interests and user.balance >= 100", c))
        #expect(try evaluate("best_time_s(5000)", c) == .missing)
        // Gear the user does not have has no distance.
        #expect(try evaluate("user.gear_distance_m", context("workout", ["gear": "boots"], facts: facts)) == .missing)
    }

    /// `user.gear_distance_m` reads the `gear` op's numbers: a workout naming no gear goes to the
    /// sport's default, a copy counts once, retired gear accrues nothing.
    @Test func gearDistanceFollowsTheGearRules() throws {
        var facts = UserFacts()
        let day: Int64 = 86_400_000
        func learn(_ type: String, _ fields: [(String, JSONValue)], at: Int64) {
            let body = JSONObject([("type", .string(type)), ("id", .string("\(type)\(at)")), ("user", "u1")] + fields)
            facts.learn(ActivityEvent(offset: 1, id: "\(type)\(at)", type: type, user: "u1", at: at, body: body), sourcePriority: ["device"])
        }
        func run(_ source: String, start: Int64, km: Double) -> [(String, JSONValue)] {
            [("source", .string(source)), ("sport", "run"), ("start", .number(Double(start))), ("duration_s", 1800), ("distance_m", .number(km * 1000))]
        }
        learn("gear.added", [("gear", "trail"), ("kind", "shoes"), ("sports", ["run"]), ("retire_at_m", 20000)], at: Self.noon - 30 * day)
        learn("workout", run("device", start: Self.noon - 10 * day, km: 8), at: Self.noon - 10 * day)
        learn("workout", run("strava", start: Self.noon - 10 * day + 30_000, km: 8.1), at: Self.noon - 9 * day)  // a copy
        learn("gear.retired", [("gear", "trail")], at: Self.noon - 5 * day)
        learn("workout", run("device", start: Self.noon - 2 * day, km: 12), at: Self.noon - 2 * day)  // after the retirement
        let onRun = context("workout", ["sport": "run"], facts: facts)
        #expect(try evaluate("user.gear_distance_m", onRun) == .missing)  // no default in use now
        #expect(try evaluate("user.gear_distance_m", context("workout", ["gear": "trail"], facts: facts)) == .number(8000))
        #expect(facts.gear?.gear(of: "u1").first?.workouts == 1)
    }

    @Test(arguments: [
        ("event.distance_m >= ", "1:21", "expected a value"),
        ("event.distanse_m > 5", "1:7", "'workout' events have no field 'distanse_m'"),
        ("user.height > 5", "1:6", "unknown user field 'height'"),
        ("event.sport == 5", "1:13", "compares a string with a number"),
        ("event.distance_m", "1:1", "must be true or false"),
        ("event.sport = 'run'", "1:13", "compare with '=='"),
        ("event.sport == 'run' && true", "1:22", "write 'and', 'or' and 'not'"),
        ("event.sport == 'run", "1:16", "string is not closed"),
        ("sqrt(4) > 1", "1:1", "unknown function 'sqrt'"),
        ("min(1) > 0", "1:1", "min takes 2 arguments"),
        ("(event.distance_m > 5", "1:22", "')' to close"),
        ("event.sport in 'run' and 1", "1:26", "the right side of 'and' must be true/false"),
        ("event.distance_m in ['a']", "1:18", "'in' looks for a number"),
        ("distance > 5", "1:1", "unknown name 'distance'"),
        ("5km > 3", "1:1", "cannot be followed directly by a letter"),
        ("event.sport > 3", "1:13", "orders two numbers or two strings"),
    ])
    func mistakesAreLocated(text: String, location: String, message: String) {
        do {
            _ = try ExpressionParser.condition(text, schema: EventSchema(types: ["workout"]))
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error.position.line):\(error.position.column)" == location, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test func nestingAndLengthAreBounded() {
        let deep = String(repeating: "(", count: 40) + "true" + String(repeating: ")", count: 40)
        #expect(throws: ExpressionError.self) { try ExpressionParser.condition(deep, schema: EventSchema(types: [])) }
        let long = Array(repeating: "true", count: 1000).joined(separator: " and ")
        #expect(throws: ExpressionError.self) { try ExpressionParser.condition(long, schema: EventSchema(types: [])) }
    }

    @Test func fieldsOfEventsWithoutSchemaAreDynamic() throws {
        let c = context("session.attended", ["minutes": 45, "with_coach": true])
        #expect(try holds("event.minutes >= 30 and event.with_coach == true", c, types: ["session.attended"]))
        #expect(try !holds("event.nothing == 1", c, types: ["session.attended"]))
    }

    /// Random byte strings are parsed or refused with a located error, never a crash.
    @Test func fuzzedConditionsAreRefusedCleanly() {
        let alphabet = Array("event.user.distance_m sport()[]'\",<>=!+-*/% and or not in 0123456789 has min".utf8)
        var rng = SystemRandomNumberGenerator()
        let c = context("workout", ["distance_m": 1, "sport": "run"])
        for _ in 0..<3000 {
            let length = Int.random(in: 0...60, using: &rng)
            let text = String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self)
            if let expression = try? ExpressionParser.condition(text, schema: EventSchema(types: ["workout"])) {
                _ = expression.holds(in: c)
            }
        }
    }
}

extension Offers.Expression {
    /// Evaluates the expression once, as the engine does: compiled into a program, fields read
    /// into slots.
    func evaluate(in context: EvaluationContext) -> Value {
        var slots = FieldSlots()
        var program = ConditionProgram()
        program.append(self, calendar: context.calendar, slots: &slots)
        var frame = EvaluationFrame(context, slots: slots)
        return program.value(of: 0, &frame)
    }

    /// Whether the condition holds; a missing value makes it false.
    func holds(in context: EvaluationContext) -> Bool { evaluate(in: context) == .bool(true) }
}
