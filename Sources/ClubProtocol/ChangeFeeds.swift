import JSON

/// One of clubd's change feeds: what a consumer that delivers the club's results elsewhere
/// (the shop adapter) reads after the position it keeps.
public protocol ChangeFeed: Sendable {
    static var op: Op { get }
}

/// `ledger.changes` **(extension)**: every user's ledger entries in booking order, by `seq`.
public enum LedgerFeed: ChangeFeed { public static let op = Op.ledgerChanges }
/// `offers.changes` **(extension)**: every issued offer in issue order, by `feed_seq`.
public enum OfferFeed: ChangeFeed { public static let op = Op.offersChanges }

/// A change feed's request: what came after feed position `after` (0: from the start), at most
/// `limit` (1…10,000, default 1,000).
public struct ChangesRequest<Feed: ChangeFeed>: Request, Equatable {
    public static var op: Op { Feed.op }
    public static var limits: ClosedRange<Int> { 1...10_000 }
    public var after: Int64
    public var limit: Int

    public init(after: Int64, limit: Int = 1000) {
        self.after = after
        self.limit = limit
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        after = try r.position("after")
        limit = try r.int("limit", in: Self.limits) ?? 1000
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("after", Int(after))
        w.member("limit", limit)
    }
}

public typealias LedgerChangesRequest = ChangesRequest<LedgerFeed>
public typealias OfferChangesRequest = ChangesRequest<OfferFeed>

extension RequestReader {
    /// A feed position: a non-negative integer, 0 when absent.
    func position(_ key: String) throws(CommandError) -> Int64 {
        guard let value = object[key] else { return 0 }
        guard let n = value.int64Value, n >= 0 else {
            throw CommandError("wrong_type", "field '\(key)' must be a non-negative integer (a feed position), not \(value.typeName)")
        }
        return n
    }
}

/// The `ledger.changes` reply: `entries` [{`seq`, `user`, `event`, `rule`, `kind`, `points`,
/// `at`, `balance`}] and `next`, the position to ask after next time (the last `seq`, or
/// `after` when there is nothing new).
public struct LedgerChangesReply: Reply, Equatable {
    public struct Entry: Sendable, Equatable {
        public var seq: Int64
        public var user: String
        public var event: String
        public var rule: String
        public var kind: String
        public var points: Int
        public var at: Int64
        public var balance: Int

        public init(seq: Int64, user: String, event: String, rule: String, kind: String, points: Int, at: Int64, balance: Int) {
            self.seq = seq
            self.user = user
            self.event = event
            self.rule = rule
            self.kind = kind
            self.points = points
            self.at = at
            self.balance = balance
        }

        /// The entry as one JSON object (what the shop adapter delivers).
        public func write(into w: inout JSONWriter) {
            w.beginObject()
            w.member("seq", Int(seq))
            w.member("user", user)
            w.member("event", event)
            w.member("rule", rule)
            w.member("kind", kind)
            w.member("points", points)
            w.member("at", Int(at))
            w.member("balance", balance)
            w.endObject()
        }
    }

    public var entries: [Entry]
    public var next: Int64

    public init(entries: [Entry], next: Int64) {
        self.entries = entries
        self.next = next
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("entries")
        w.beginArray()
        for entry in entries { entry.write(into: &w) }
        w.endArray()
        w.member("next", Int(next))
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        var entries: [Entry] = []
        for item in try r.array("entries") {
            let e = ReplyReader(value: item)
            entries.append(
                Entry(
                    seq: Int64(try e.int("seq")), user: try e.string("user"), event: try e.string("event"), rule: try e.string("rule"),
                    kind: try e.string("kind"), points: try e.int("points"), at: Int64(try e.int("at")), balance: try e.int("balance")))
        }
        self.entries = entries
        next = Int64(try r.int("next"))
    }
}

/// The `offers.changes` reply: `offers`, each an `offer.*` payload (without `topic`, `seq` of
/// the topic and `at`) with `feed_seq`, its feed position; and `next`.
public struct OfferChangesReply: Reply, Equatable {
    public struct Change: Sendable, Equatable {
        public var feedSeq: Int64
        public var offer: RawObject

        public init(feedSeq: Int64, offer: RawObject) {
            self.feedSeq = feedSeq
            self.offer = offer
        }
    }

    public var offers: [Change]
    public var next: Int64

    public init(offers: [Change], next: Int64) {
        self.offers = offers
        self.next = next
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("offers")
        w.beginArray()
        for change in offers {
            w.beginObject()
            w.member("feed_seq", Int(change.feedSeq))
            if !change.offer.members.isEmpty { w.raw(change.offer.members) }  // raw() puts the comma
            w.endObject()
        }
        w.endArray()
        w.member("next", Int(next))
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        var offers: [Change] = []
        for item in try r.array("offers") {
            guard case .object(var object) = item, let seq = object["feed_seq"]?.int64Value else {
                throw ReplyReader.missing("feed_seq", "integer")
            }
            object["feed_seq"] = nil
            offers.append(Change(feedSeq: seq, offer: RawObject(reading: .object(object))))
        }
        self.offers = offers
        next = Int64(try r.int("next"))
    }
}
