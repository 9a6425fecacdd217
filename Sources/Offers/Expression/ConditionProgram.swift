import Bonus
import ClubKernel
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

/// Numbers the event fields that conditions read, so that an event's fields are looked up
/// once per event, not once per rule.
public struct FieldSlots: Sendable {
    private(set) var byName: [String: Int] = [:]

    public init() {}

    mutating func slot(_ name: String) -> Int {
        if let slot = byName[name] { return slot }
        byName[name] = byName.count
        return byName.count - 1
    }

    public var count: Int { byName.count }
}

/// The values one evaluation reads: the event's fields by slot, and the user's facts,
/// each computed at most once per event.
public struct EvaluationFrame {
    var fields: [Value]
    let context: EvaluationContext
    /// The time zone of the rule being evaluated (rule files may differ).
    var calendar: LocalCalendar {
        didSet { if calendar != oldValue { facts = Array(repeating: nil, count: UserFact.allCases.count) } }
    }
    private var facts: [Value?] = Array(repeating: nil, count: UserFact.allCases.count)

    /// Reads the event's fields into their slots.
    public init(_ context: EvaluationContext, slots: FieldSlots) {
        self.context = context
        calendar = context.calendar
        fields = Array(repeating: .missing, count: slots.count)
        guard slots.count > 0 else { return }
        for member in context.event.body.members {
            if let slot = slots.byName[member.key] { fields[slot] = Value(member.value) }
        }
        if let slot = slots.byName["ts"] { fields[slot] = .number(Double(context.event.at)) }
    }

    mutating func fact(_ fact: UserFact) -> Value {
        let index = fact.index
        assert(UserFact.allCases[index] == fact, "UserFact.index must follow the order of the cases")
        if let known = facts[index] { return known }
        let value = context.facts.value(of: fact, event: context.event, calendar: calendar, balance: context.balance)
        facts[index] = value
        return value
    }
}

extension Value {
    /// The value of an event field; `null` and objects read as missing.
    init(_ json: JSONValue) {
        switch json {
        case .null, .object: self = .missing
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array(let items): self = .list(items.map(Value.init))
        }
    }
}

/// Conditions compiled into one flat buffer of stack-machine instructions: field references
/// resolved to slots, constants folded, `and`/`or` as forward jumps. The conditions of all
/// rules of a trigger share the buffer, so walking them per event stays in cache and takes
/// no reference counting per rule. Evaluation is bounded by the code's length.
public struct ConditionProgram: Sendable {
    enum Instruction: Sendable {
        case constant(Value)
        case field(Int)
        case fact(UserFact)
        /// Pops `count` values and pushes them as a list.
        case list(Int)
        case not
        /// `and`: if the top is not true, replaces it with false and jumps; else pops it.
        case andJump(Int)
        /// `or`: if the top is true, jumps; else pops it.
        case orJump(Int)
        /// Replaces the top with whether it is true.
        case truth
        case compare(Expression.Comparison)
        /// Pushes how an event field compares with a number (`event.distance_m >= 5000`):
        /// the most common test, in one step.
        case compareField(Int, Expression.Comparison, Double)
        /// Pops a list (or string) and an element; pushes whether it holds the element.
        case member(negated: Bool)
        /// Pops an element; pushes whether one of these constants equals it.
        case memberOf([Value], negated: Bool)
        case arithmetic(Expression.Arithmetic)
        case negate
        case call(Function, arguments: Int)
    }

    private var code: [Instruction] = []
    /// Each condition's code; an empty range is no condition (it holds).
    private var ranges: [Range<Int>] = []
    /// Each condition's time zone, when they are not all the same.
    private var calendars: [LocalCalendar] = []
    private var oneCalendar = true

    public init() {}

    /// The number of conditions.
    public var count: Int { ranges.count }

    /// Appends a condition (nil: always holds), numbering the event fields it reads in `slots`.
    public mutating func append(_ expression: Expression?, calendar: LocalCalendar, slots: inout FieldSlots) {
        let start = code.count
        if let expression {
            var local: [Instruction] = []
            Self.emit(expression, into: &local, slots: &slots)
            code += local
        }
        ranges.append(start..<code.count)
        oneCalendar = oneCalendar && (calendars.first.map { $0 == calendar } ?? true)
        calendars.append(calendar)
    }

    /// The index of the first condition from `start` on that holds, if any.
    public func firstHolding(from start: Int, _ frame: inout EvaluationFrame) -> Int? {
        var stack: [Value] = []
        stack.reserveCapacity(16)
        return code.withUnsafeBufferPointer { code in
            for index in start..<ranges.count {
                let range = ranges[index]
                if range.isEmpty { return index }
                if !oneCalendar { frame.calendar = calendars[index] }
                if Self.run(UnsafeBufferPointer(rebasing: code[range]), &frame, &stack) == .bool(true) { return index }
            }
            return nil
        }
    }

    /// The value of condition `index`.
    public func value(of index: Int, _ frame: inout EvaluationFrame) -> Value {
        var stack: [Value] = []
        return code.withUnsafeBufferPointer { code in
            frame.calendar = calendars[index]
            return Self.run(UnsafeBufferPointer(rebasing: code[ranges[index]]), &frame, &stack)
        }
    }

    private static func constant(_ expression: Expression) -> Value? {
        switch expression {
        case .literal(let value): return value
        case .list(let items):
            let values = items.compactMap(constant)
            return values.count == items.count ? .list(values) : nil
        default: return nil
        }
    }

    private static func emit(_ expression: Expression, into code: inout [Instruction], slots: inout FieldSlots) {
        if let value = constant(expression) {
            code.append(.constant(value))
            return
        }
        switch expression {
        case .literal(let value): code.append(.constant(value))
        case .reference(.event(let name)): code.append(.field(slots.slot(name)))
        case .reference(.user(let fact)): code.append(.fact(fact))
        case .list(let items):
            for item in items { emit(item, into: &code, slots: &slots) }
            code.append(.list(items.count))
        case .not(let operand):
            emit(operand, into: &code, slots: &slots)
            code.append(.not)
        case .and(let left, let right), .or(let left, let right):
            emit(left, into: &code, slots: &slots)
            let jump = code.count
            code.append(.truth)  // replaced by the jump once its target is known
            emit(right, into: &code, slots: &slots)
            code.append(.truth)
            if case .and = expression { code[jump] = .andJump(code.count) } else { code[jump] = .orJump(code.count) }
        case .compare(let op, .reference(.event(let name)), .literal(.number(let number))):
            code.append(.compareField(slots.slot(name), op, number))
        case .compare(let op, let left, let right):
            emit(left, into: &code, slots: &slots)
            emit(right, into: &code, slots: &slots)
            code.append(.compare(op))
        case .member(let element, let collection, let negated):
            emit(element, into: &code, slots: &slots)
            if case .list(let items)? = constant(collection) {
                code.append(.memberOf(items, negated: negated))
            } else {
                emit(collection, into: &code, slots: &slots)
                code.append(.member(negated: negated))
            }
        case .arithmetic(let op, let left, let right):
            emit(left, into: &code, slots: &slots)
            emit(right, into: &code, slots: &slots)
            code.append(.arithmetic(op))
        case .negate(let operand):
            emit(operand, into: &code, slots: &slots)
            code.append(.negate)
        case .call(let function, let arguments):
            for argument in arguments { emit(argument, into: &code, slots: &slots) }
            code.append(.call(function, arguments: arguments.count))
        }
    }

    /// Runs one condition's code on `stack` (empty before, empty after: a condition leaves
    /// exactly its value, which is popped and returned).
    private static func run(_ code: UnsafeBufferPointer<Instruction>, _ frame: inout EvaluationFrame, _ stack: inout [Value]) -> Value {
        var pc = 0
        while pc < code.count {
            switch code[pc] {
            case .constant(let value): stack.append(value)
            case .field(let slot): stack.append(frame.fields[slot])
            case .fact(let fact): stack.append(frame.fact(fact))
            case .list(let count):
                let items = Array(stack.suffix(count))
                stack.removeLast(count)
                stack.append(.list(items))
            case .not:
                let top = stack.removeLast()
                if case .bool(let b) = top { stack.append(.bool(!b)) } else { stack.append(.missing) }
            case .andJump(let target):
                if stack.last != .bool(true) {
                    stack[stack.count - 1] = .bool(false)
                    pc = target
                    continue
                }
                stack.removeLast()
            case .orJump(let target):
                if stack.last == .bool(true) {
                    pc = target
                    continue
                }
                stack.removeLast()
            case .truth:
                stack[stack.count - 1] = .bool(stack[stack.count - 1] == .bool(true))
            case .compare(let op):
                let right = stack.removeLast()
                stack[stack.count - 1] = .bool(compare(op, stack[stack.count - 1], right))
            case .compareField(let slot, let op, let number):
                if case .number(let x) = frame.fields[slot] {
                    stack.append(.bool(compare(op, x, number)))
                } else {
                    stack.append(.bool(compare(op, frame.fields[slot], .number(number))))
                }
            case .member(let negated):
                let collection = stack.removeLast()
                let needle = stack[stack.count - 1]
                let found: Bool?
                switch (needle, collection) {
                case (.missing, _), (_, .missing): found = nil
                case (_, .list(let items)): found = items.contains(needle)
                case (.string(let s), .string(let text)): found = text.contains(s)
                default: found = nil
                }
                stack[stack.count - 1] = .bool(found.map { $0 != negated } ?? false)
            case .memberOf(let items, let negated):
                let needle = stack[stack.count - 1]
                stack[stack.count - 1] = .bool(needle != .missing && items.contains(needle) != negated)
            case .arithmetic(let op):
                let right = stack.removeLast()
                stack[stack.count - 1] = arithmetic(op, stack[stack.count - 1], right)
            case .negate:
                if case .number(let n) = stack[stack.count - 1] { stack[stack.count - 1] = .number(-n) } else {
                    stack[stack.count - 1] = .missing
                }
            case .call(let function, let count):
                let result = call(function, stack[(stack.count - count)...], calendar: frame.calendar, facts: frame.context.facts)
                stack.removeLast(count)
                stack.append(result)
            }
            pc += 1
        }
        return stack.popLast() ?? .missing  // a condition leaves exactly its value
    }

    private static func compare(_ op: Expression.Comparison, _ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.missing, _), (_, .missing): return false
        case (.number(let x), .number(let y)): return compare(op, x, y)
        case (.string(let x), .string(let y)): return compare(op, x, y)
        default:
            switch op {
            case .equal: return a == b
            case .notEqual: return a != b
            default: return false
            }
        }
    }

    @inline(__always)
    private static func compare<T: Comparable>(_ op: Expression.Comparison, _ x: T, _ y: T) -> Bool {
        switch op {
        case .equal: return x == y
        case .notEqual: return x != y
        case .less: return x < y
        case .lessOrEqual: return x <= y
        case .greater: return x > y
        case .greaterOrEqual: return x >= y
        }
    }

    private static func arithmetic(_ op: Expression.Arithmetic, _ a: Value, _ b: Value) -> Value {
        guard case .number(let x) = a, case .number(let y) = b else { return .missing }
        let result: Double
        switch op {
        case .add: result = x + y
        case .subtract: result = x - y
        case .multiply: result = x * y
        case .divide: result = x / y
        case .remainder: result = x.truncatingRemainder(dividingBy: y)
        }
        return result.isFinite ? .number(result) : .missing
    }

    private static func call(_ function: Function, _ arguments: ArraySlice<Value>, calendar: LocalCalendar, facts: UserFacts) -> Value {
        let first = arguments.first ?? .missing
        let second = arguments.dropFirst().first ?? .missing
        func numeric(_ f: (Double) -> Double) -> Value {
            if case .number(let n) = first { return .number(f(n)) }
            return .missing
        }
        switch function {
        case .has: return .bool(first != .missing)
        case .min, .max:
            guard case .number(let a) = first, case .number(let b) = second else { return .missing }
            return .number(function == .min ? Swift.min(a, b) : Swift.max(a, b))
        case .abs: return numeric { Swift.abs($0) }
        case .round: return numeric { $0.rounded() }
        case .floor: return numeric { $0.rounded(.down) }
        case .lower:
            guard case .string(let s) = first else { return .missing }
            return .string(s.lowercased())
        case .startsWith:
            guard case .string(let s) = first, case .string(let prefix) = second else { return .missing }
            return .bool(s.hasPrefix(prefix))
        case .contains:
            switch (first, second) {
            case (.list(let items), let needle) where needle != .missing: return .bool(items.contains(needle))
            case (.string(let text), .string(let needle)): return .bool(text.contains(needle))
            default: return .missing
            }
        case .len:
            switch first {
            case .list(let items): return .number(Double(items.count))
            case .string(let s): return .number(Double(s.count))
            default: return .missing
            }
        case .hour, .weekday:
            guard case .number(let ms) = first, ms.isFinite, Swift.abs(ms) < 1e15 else { return .missing }
            return .number(Double(function == .hour ? calendar.hour(of: Int64(ms)) : calendar.weekday(of: Int64(ms))))
        case .bestTime:
            guard case .number(let distance) = first, let best = facts.bests[distance] else { return .missing }
            return .number(best)
        }
    }
}
