import JSON

/// What the bonus programme keeps for one user: the balance, the awards not yet spent or
/// expired, the points awarded recently (for caps) and the streaks.
public struct BonusAccount: Sendable, Equatable {
    /// Points now; never negative.
    public internal(set) var balance = 0
    /// Awards with points left, in the order they were made; spends take the oldest first.
    var lots: [Lot] = []
    /// Points awarded per local day and per week, kept for the last ~8 days and 2 weeks.
    var dayPoints: [Int64: Int] = [:]
    var weekPoints: [Int64: Int] = [:]
    /// Per streak rule: the last active day and the run of consecutive days ending there.
    var streaks: [String: Streak] = [:]

    struct Lot: Sendable, Equatable {
        var event: String
        var rule: String
        var remaining: Int
        var expiresAt: Int64?
    }

    struct Streak: Sendable, Equatable {
        var lastDay: Int64
        var length: Int
    }

    public init() {}

    /// When the next lot expires, if any does.
    public var nextExpiry: Int64? { lots.compactMap(\.expiresAt).min() }
}

extension BonusAccount {
    /// The account as JSON, for the SQLite state table.
    public func serialized() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("balance", balance)
        w.key("lots")
        w.beginArray()
        for lot in lots {
            w.beginObject()
            w.member("event", lot.event)
            w.member("rule", lot.rule)
            w.member("remaining", lot.remaining)
            if let expiresAt = lot.expiresAt { w.member("expires_at", Int(expiresAt)) }
            w.endObject()
        }
        w.endArray()
        for (name, counts) in [("days", dayPoints), ("weeks", weekPoints)] {
            w.key(name)
            w.beginArray()
            for (key, points) in counts.sorted(by: { $0.key < $1.key }) {
                w.beginArray()
                w.value(Int(key))
                w.value(points)
                w.endArray()
            }
            w.endArray()
        }
        w.key("streaks")
        w.beginObject()
        for (rule, streak) in streaks.sorted(by: { $0.key < $1.key }) {
            w.key(rule)
            w.beginArray()
            w.value(Int(streak.lastDay))
            w.value(streak.length)
            w.endArray()
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// Reads an account written by ``serialized()``.
    /// - Throws: when the bytes are not such an account.
    public init(serialized bytes: [UInt8]) throws {
        let value = try JSONValue.parse(bytes)
        struct Corrupt: Error {}
        guard let balance = value["balance"]?.int64Value, let lots = value["lots"]?.arrayValue,
            let days = value["days"]?.arrayValue, let weeks = value["weeks"]?.arrayValue,
            let streaks = value["streaks"]?.objectValue
        else { throw Corrupt() }
        self.balance = Int(balance)
        for lot in lots {
            guard let event = lot["event"]?.stringValue, let rule = lot["rule"]?.stringValue,
                let remaining = lot["remaining"]?.int64Value
            else { throw Corrupt() }
            self.lots.append(Lot(event: event, rule: rule, remaining: Int(remaining), expiresAt: lot["expires_at"]?.int64Value))
        }
        func counts(_ pairs: [JSONValue]) throws -> [Int64: Int] {
            var result: [Int64: Int] = [:]
            for pair in pairs {
                guard let items = pair.arrayValue, items.count == 2, let key = items[0].int64Value, let points = items[1].int64Value
                else { throw Corrupt() }
                result[key] = Int(points)
            }
            return result
        }
        dayPoints = try counts(days)
        weekPoints = try counts(weeks)
        for rule in streaks.keys {
            guard let items = streaks[rule]?.arrayValue, items.count == 2, let day = items[0].int64Value,
                let length = items[1].int64Value
            else { throw Corrupt() }
            self.streaks[rule] = Streak(lastDay: day, length: Int(length))
        }
    }
}
