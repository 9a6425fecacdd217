import JSON

/// What the bonus programme keeps for one user: the balance, the awards not yet spent or
/// expired, the points awarded recently (for caps) and the streaks.
///
/// Awards that can expire are kept as lots, stored row by row apart from the rest of the
/// account (which stays small), so a busy user's account does not grow with every award.
public struct BonusAccount: Sendable, Equatable {
    /// Points now; never negative.
    public internal(set) var balance = 0
    /// Awards with points left that will expire, in the order they were made; spends take
    /// the oldest first. Empty when the programme has no expiry.
    public internal(set) var lots: [Lot] = []
    /// Changes to `lots` not yet taken by ``takeLotChanges()``, in order.
    var lotChanges: [LotChange] = []
    /// Grows with every change, so a caller can tell whether an event changed the account.
    public internal(set) var revision = 0
    /// Points awarded per local day and per week, kept for the last ~8 days and 2 weeks.
    var dayPoints: [Int64: Int] = [:]
    var weekPoints: [Int64: Int] = [:]
    /// Per streak rule: the last active day and the run of consecutive days ending there.
    var streaks: [String: Streak] = [:]

    /// Points one rule awarded for one event, not yet spent or expired.
    public struct Lot: Sendable, Equatable {
        public let event: String
        public let rule: String
        public internal(set) var remaining: Int
        public let expiresAt: Int64

        public init(event: String, rule: String, remaining: Int, expiresAt: Int64) {
            self.event = event
            self.rule = rule
            self.remaining = remaining
            self.expiresAt = expiresAt
        }
    }

    /// A change to persist: a lot written (new, or with less remaining) or deleted.
    public enum LotChange: Sendable, Equatable {
        case write(Lot)
        case delete(event: String, rule: String)
    }

    /// The lot changes since the last call, for storing with the account.
    public mutating func takeLotChanges() -> [LotChange] {
        defer { lotChanges = [] }
        return lotChanges
    }

    struct Streak: Sendable, Equatable {
        var lastDay: Int64
        var length: Int
    }

    public init() {}

    /// When the next lot expires, if any does.
    public var nextExpiry: Int64? { lots.lazy.map { $0.expiresAt }.min() }
}

extension BonusAccount {
    /// The account without its lots as JSON, for the SQLite state table.
    public func serialized() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("balance", balance)
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

    /// Reads an account written by ``serialized()``, with its stored lots.
    /// - Throws: when the bytes are not such an account.
    public init(serialized bytes: [UInt8], lots: [Lot]) throws {
        let value = try JSONValue.parse(bytes)
        struct Corrupt: Error {}
        self.lots = lots
        guard let balance = value["balance"]?.int64Value, let days = value["days"]?.arrayValue, let weeks = value["weeks"]?.arrayValue,
            let streaks = value["streaks"]?.objectValue
        else { throw Corrupt() }
        self.balance = Int(balance)
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
