import ClubKernel
import JSON

/// The bonus programme: rules that turn activity events into points, with caps and expiry.
/// Loaded from a YAML file (see `config/bonus.yaml` and docs/bonus.md).
public struct BonusRules: Sendable, Equatable {
    public var rules: [BonusRule]
    /// Most points one user can be awarded per local day / ISO week; nil is unlimited.
    public var dailyCap: Int?
    public var weeklyCap: Int?
    /// Points expire this long after the event that earned them; nil never.
    public var expiryMillis: Int64?
    public var calendar: LocalCalendar

    public init(rules: [BonusRule], dailyCap: Int? = nil, weeklyCap: Int? = nil, expiryMillis: Int64? = nil, calendar: LocalCalendar) {
        self.rules = rules
        self.dailyCap = dailyCap
        self.weeklyCap = weeklyCap
        self.expiryMillis = expiryMillis
        self.calendar = calendar
    }
}

/// One rule: which events it looks at, on which conditions, and what it does.
public struct BonusRule: Sendable, Equatable {
    public enum Effect: Sendable, Equatable {
        /// Fixed points, or points per whole `unit` of a numeric field (1 point per 1000 m).
        case award(points: Int, per: PerUnit?)
        /// Multiplies the points the award rules give the same event (a coach's session x2).
        case multiplier(factor: Double)
        /// Points each time a user's run of consecutive active local days reaches a multiple
        /// of `days`; a day is active when it holds an event this rule matches.
        case streak(days: Int, points: Int)
    }

    public struct PerUnit: Sendable, Equatable {
        public let field: String
        public let unit: Double
    }

    public let id: String
    /// Event types the rule applies to.
    public let on: Set<String>
    public let conditions: [Condition]
    public let effect: Effect

    public init(id: String, on: Set<String>, conditions: [Condition] = [], effect: Effect) {
        self.id = id
        self.on = on
        self.conditions = conditions
        self.effect = effect
    }

    /// The rule's event types and conditions hold for `event`.
    public func matches(_ event: ActivityEvent) -> Bool {
        on.contains(event.type) && conditions.allSatisfy { $0.holds(for: event.body[$0.field]) }
    }
}

/// A test on one field of an event. A missing field fails every test.
public struct Condition: Sendable, Equatable {
    public enum Test: Sendable, Equatable {
        case atLeast(Double)
        case atMost(Double)
        case equals(JSONValue)
        case oneOf([JSONValue])
    }

    public let field: String
    public let test: Test

    public init(field: String, test: Test) {
        self.field = field
        self.test = test
    }

    func holds(for value: JSONValue?) -> Bool {
        guard let value else { return false }
        switch test {
        case .atLeast(let bound): return value.doubleValue.map { $0 >= bound } ?? false
        case .atMost(let bound): return value.doubleValue.map { $0 <= bound } ?? false
        case .equals(let expected): return value == expected
        case .oneOf(let options): return options.contains(value)
        }
    }
}
