import Activity
import Foundation
import JSON

/// What a condition is evaluated against: the triggering event and what is known of its user.
public struct EvaluationContext: Sendable {
    public let event: ActivityEvent
    public let facts: UserFacts
    /// The user's bonus balance, when the rules need it.
    public let balance: Int?
    public let calendar: LocalCalendar

    public init(event: ActivityEvent, facts: UserFacts, balance: Int?, calendar: LocalCalendar) {
        self.event = event
        self.facts = facts
        self.balance = balance
        self.calendar = calendar
    }
}

extension Expression {
    /// Whether the condition holds; a missing value makes it false.
    public func holds(in context: EvaluationContext) -> Bool {
        evaluate(in: context) == .bool(true)
    }

    /// Evaluates the expression: bounded by its size (no loops, no I/O).
    public func evaluate(in context: EvaluationContext) -> Value {
        switch self {
        case .literal(let value):
            return value
        case .reference(let reference):
            return Self.resolve(reference, in: context)
        case .list(let items):
            return .list(items.map { $0.evaluate(in: context) })
        case .not(let operand):
            guard case .bool(let b) = operand.evaluate(in: context) else { return .missing }
            return .bool(!b)
        case .and(let left, let right):
            guard case .bool(true) = left.evaluate(in: context) else { return .bool(false) }
            return right.evaluate(in: context) == .bool(true) ? .bool(true) : .bool(false)
        case .or(let left, let right):
            if case .bool(true) = left.evaluate(in: context) { return .bool(true) }
            return right.evaluate(in: context) == .bool(true) ? .bool(true) : .bool(false)
        case .compare(let op, let left, let right):
            return .bool(Self.compare(op, left.evaluate(in: context), right.evaluate(in: context)))
        case .member(let element, let collection, let negated):
            let needle = element.evaluate(in: context)
            let found: Bool
            switch (needle, collection.evaluate(in: context)) {
            case (.missing, _), (_, .missing): return .bool(false)
            case (_, .list(let items)): found = items.contains(needle)
            case (.string(let s), .string(let text)): found = text.contains(s)
            default: return .bool(false)
            }
            return .bool(found != negated)
        case .arithmetic(let op, let left, let right):
            guard case .number(let a) = left.evaluate(in: context), case .number(let b) = right.evaluate(in: context) else {
                return .missing
            }
            let result: Double
            switch op {
            case .add: result = a + b
            case .subtract: result = a - b
            case .multiply: result = a * b
            case .divide: result = a / b
            case .remainder: result = a.truncatingRemainder(dividingBy: b)
            }
            return result.isFinite ? .number(result) : .missing
        case .negate(let operand):
            guard case .number(let n) = operand.evaluate(in: context) else { return .missing }
            return .number(-n)
        case .call(let function, let arguments):
            return Self.call(function, arguments, in: context)
        }
    }

    private static func resolve(_ reference: Reference, in context: EvaluationContext) -> Value {
        switch reference {
        case .user(let fact):
            return context.facts.value(of: fact, event: context.event, calendar: context.calendar, balance: context.balance)
        case .event(let field):
            if field == "ts" { return .number(Double(context.event.at)) }
            return context.event.body[field].map(value) ?? .missing
        }
    }

    private static func value(_ json: JSONValue) -> Value {
        switch json {
        case .null, .object: return .missing
        case .bool(let b): return .bool(b)
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .array(let items): return .list(items.map(value))
        }
    }

    private static func compare(_ op: Comparison, _ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.missing, _), (_, .missing):
            return false
        case (.number(let x), .number(let y)):
            return order(op, x, y)
        case (.string(let x), .string(let y)):
            return order(op, x, y)
        default:
            switch op {
            case .equal: return a == b
            case .notEqual: return a != b
            default: return false
            }
        }
    }

    private static func order<T: Comparable>(_ op: Comparison, _ x: T, _ y: T) -> Bool {
        switch op {
        case .equal: return x == y
        case .notEqual: return x != y
        case .less: return x < y
        case .lessOrEqual: return x <= y
        case .greater: return x > y
        case .greaterOrEqual: return x >= y
        }
    }

    private static func call(_ function: Function, _ arguments: [Expression], in context: EvaluationContext) -> Value {
        let values = function == .has ? [] : arguments.map { $0.evaluate(in: context) }
        func number(_ i: Int) -> Double? {
            if case .number(let n) = values[i] { return n }
            return nil
        }
        func numeric(_ f: (Double) -> Double) -> Value { number(0).map { .number(f($0)) } ?? .missing }
        switch function {
        case .has:
            return .bool(arguments[0].evaluate(in: context) != .missing)
        case .min:
            guard let a = number(0), let b = number(1) else { return .missing }
            return .number(Swift.min(a, b))
        case .max:
            guard let a = number(0), let b = number(1) else { return .missing }
            return .number(Swift.max(a, b))
        case .abs: return numeric(Swift.abs)
        case .round: return numeric { $0.rounded() }
        case .floor: return numeric { $0.rounded(.down) }
        case .lower:
            guard case .string(let s) = values[0] else { return .missing }
            return .string(s.lowercased())
        case .startsWith:
            guard case .string(let s) = values[0], case .string(let prefix) = values[1] else { return .missing }
            return .bool(s.hasPrefix(prefix))
        case .contains:
            switch (values[0], values[1]) {
            case (.list(let items), let needle) where needle != .missing: return .bool(items.contains(needle))
            case (.string(let text), .string(let needle)): return .bool(text.contains(needle))
            default: return .missing
            }
        case .len:
            switch values[0] {
            case .list(let items): return .number(Double(items.count))
            case .string(let s): return .number(Double(s.count))
            default: return .missing
            }
        case .hour, .weekday:
            guard let ms = number(0), ms.isFinite, Swift.abs(ms) < 1e15 else { return .missing }
            let at = Int64(ms)
            return .number(Double(function == .hour ? context.calendar.hour(of: at) : context.calendar.weekday(of: at)))
        case .bestTime:
            guard let distance = number(0), let best = context.facts.bests[distance] else { return .missing }
            return .number(best)
        }
    }
}
