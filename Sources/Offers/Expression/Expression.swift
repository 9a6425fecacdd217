/// The static type of an expression, known at load time.
public indirect enum ValueType: Sendable, Equatable, CustomStringConvertible {
    case number, string, bool
    case list(ValueType)
    /// A field whose type only the event can tell (fields of events without a schema).
    case any

    public var description: String {
        switch self {
        case .number: return "a number"
        case .string: return "a string"
        case .bool: return "true/false"
        case .list(let element): return element == .any ? "a list" : "a list of \(element.plural)"
        case .any: return "any value"
        }
    }

    var plural: String {
        switch self {
        case .number: return "numbers"
        case .string: return "strings"
        case .bool: return "true/false values"
        case .list: return "lists"
        case .any: return "values"
        }
    }

    /// Whether a value of type `other` may stand where this type is expected.
    func accepts(_ other: ValueType) -> Bool {
        switch (self, other) {
        case (.any, _), (_, .any): return true
        case (.list(let a), .list(let b)): return a.accepts(b)
        default: return self == other
        }
    }
}

/// A value during evaluation. `missing` is a field the event or the user does not have:
/// arithmetic on it stays missing, and any comparison with it is false.
public enum Value: Sendable, Equatable, Hashable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case list([Value])
    case missing
}

/// A user fact a condition can read as `user.<name>`; the offer stage keeps them per user.
public enum UserFact: String, Sendable, CaseIterable, Codable {
    case region, interests, balance
    case distanceWeek = "distance_week_m", distanceMonth = "distance_month_m", distanceYear = "distance_year_m"
    case distanceTotal = "distance_total_m"
    case workoutsWeek = "workouts_week", workoutsMonth = "workouts_month", workoutsTotal = "workouts_total"
    /// The counted distance of the gear the triggering event names in `gear`.
    case gearDistance = "gear_distance_m"

    /// Position in `allCases`.
    var index: Int {
        switch self {
        case .region: return 0
        case .interests: return 1
        case .balance: return 2
        case .distanceWeek: return 3
        case .distanceMonth: return 4
        case .distanceYear: return 5
        case .distanceTotal: return 6
        case .workoutsWeek: return 7
        case .workoutsMonth: return 8
        case .workoutsTotal: return 9
        case .gearDistance: return 10
        }
    }

    var type: ValueType {
        switch self {
        case .region: return .string
        case .interests: return .list(.string)
        default: return .number
        }
    }
}

/// What a name in a condition refers to, resolved at load time.
public enum Reference: Sendable, Equatable {
    /// `event.<field>`: a member of the triggering event's JSON.
    case event(String)
    /// `user.<fact>`.
    case user(UserFact)
}

/// The built-in functions of the condition language.
public enum Function: String, Sendable, CaseIterable {
    case has, min, max, abs, round, floor, lower
    case startsWith = "starts_with", contains, len, hour, weekday
    case bestTime = "best_time_s"

    /// One line per function for error messages and the docs.
    var signature: String {
        switch self {
        case .has: return "has(field) — true when the event or user has the field"
        case .min: return "min(number, number)"
        case .max: return "max(number, number)"
        case .abs: return "abs(number)"
        case .round: return "round(number)"
        case .floor: return "floor(number)"
        case .lower: return "lower(string)"
        case .startsWith: return "starts_with(string, prefix)"
        case .contains: return "contains(list or string, value)"
        case .len: return "len(list or string)"
        case .hour: return "hour(epoch ms) — 0...23 in the rules' time zone"
        case .weekday: return "weekday(epoch ms) — 1 (Monday) ... 7 (Sunday) in the rules' time zone"
        case .bestTime: return "best_time_s(distance_m) — the user's personal record over that distance, in seconds"
        }
    }
}

/// A checked expression: names resolved, types known to agree.
public indirect enum Expression: Sendable, Equatable {
    public enum Comparison: String, Sendable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }

    public enum Arithmetic: String, Sendable {
        case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
    }

    case literal(Value)
    case reference(Reference)
    case list([Expression])
    case not(Expression)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case compare(Comparison, Expression, Expression)
    /// `element in list`, or `not in` when negated.
    case member(Expression, Expression, negated: Bool)
    case arithmetic(Arithmetic, Expression, Expression)
    case negate(Expression)
    case call(Function, [Expression])
}
