import JSON

/// The `balance` reply: a user's points as far as the bonus stage has applied the log.
public struct BalanceReply: Reply, Equatable {
    public var user: String
    public var points: Int

    public init(user: String, points: Int) {
        self.user = user
        self.points = points
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("points", points)
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        points = try r.int("points")
    }
}

/// The `ledger` reply: the newest entries of a user's ledger, oldest first.
public struct LedgerReply: Reply, Equatable {
    /// One booking: an award, a spend or an expiry, with the event and rule behind it.
    public struct Entry: Sendable, Equatable {
        public var event: String
        public var points: Int
        public var rule: String
        /// When it was booked, epoch ms.
        public var at: Int
        /// `award`, `spend` or `expiry`.
        public var kind: String
        /// The balance after it.
        public var balance: Int

        public init(event: String, points: Int, rule: String, at: Int, kind: String, balance: Int) {
            self.event = event
            self.points = points
            self.rule = rule
            self.at = at
            self.kind = kind
            self.balance = balance
        }
    }

    public var user: String
    public var entries: [Entry]

    public init(user: String, entries: [Entry]) {
        self.user = user
        self.entries = entries
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.key("entries")
        w.beginArray()
        for e in entries {
            w.beginObject()
            w.member("event", e.event)
            w.member("points", e.points)
            w.member("rule", e.rule)
            w.member("at", e.at)
            w.member("kind", e.kind)
            w.member("balance", e.balance)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        entries = []
        for value in try r.array("entries") {
            let e = ReplyReader(value: value)
            entries.append(
                Entry(
                    event: try e.string("event"), points: try e.int("points"), rule: try e.string("rule"), at: try e.int("at"),
                    kind: try e.string("kind"), balance: try e.int("balance")))
        }
    }
}
