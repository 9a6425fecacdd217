import JSON

/// A JSON object another part of the contract defines (a `window.<user>` payload, an
/// `offer.*` payload), carried as its serialized members: the daemon splices what its stage
/// wrote without parsing it again; a client reads ``value``.
public struct RawObject: Sendable, Equatable {
    /// The object's members, without the braces.
    public let members: [UInt8]

    public init(members: [UInt8]) { self.members = members }

    /// The parsed object (an empty one if the members are not valid JSON).
    public var value: JSONValue { (try? JSONValue.parse([UInt8(ascii: "{")] + members + [UInt8(ascii: "}")])) ?? .object(JSONObject()) }

    func write(into w: inout JSONWriter) {
        w.beginObject()
        w.raw(members)
        w.endObject()
    }

    init(reading value: JSONValue) {
        let bytes = value.serialized()
        members = bytes.count >= 2 ? Array(bytes.dropFirst().dropLast()) : []
    }
}

/// The `leaderboard` reply: a board's top entries in a period and scope, and the asking
/// user's own line when a `user` was given.
public struct LeaderboardReply: Reply, Equatable {
    public struct Entry: Sendable, Equatable {
        public var rank: Int
        public var user: String
        public var value: Double

        public init(rank: Int, user: String, value: Double) {
            self.rank = rank
            self.user = user
            self.value = value
        }
    }

    /// The line of the user named in the request.
    public enum Own: Sendable, Equatable {
        case ranked(Entry)
        /// The user has no value on this board in this period (`"user": null`).
        case unranked
    }

    public var board: String
    public var metric: String
    public var period: String
    public var scope: String
    /// How many users the board ranks.
    public var ranked: Int
    public var entries: [Entry]
    /// Present only when the request named a user.
    public var own: Own?

    public init(board: String, metric: String, period: String, scope: String, ranked: Int, entries: [Entry], own: Own? = nil) {
        self.board = board
        self.metric = metric
        self.period = period
        self.scope = scope
        self.ranked = ranked
        self.entries = entries
        self.own = own
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("board", board)
        w.member("metric", metric)
        w.member("period", period)
        w.member("scope", scope)
        w.member("ranked", ranked)
        w.key("entries")
        w.beginArray()
        for e in entries {
            w.beginObject()
            w.member("rank", e.rank)
            w.member("user", e.user)
            w.member("value", e.value)
            w.endObject()
        }
        w.endArray()
        switch own {
        case nil: break
        case .unranked:
            w.key("user")
            w.null()
        case .ranked(let e):
            w.key("user")
            w.beginObject()
            w.member("user", e.user)
            w.member("rank", e.rank)
            w.member("value", e.value)
            w.endObject()
        }
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        board = try r.string("board")
        metric = try r.string("metric")
        period = try r.string("period")
        scope = try r.string("scope")
        ranked = try r.int("ranked")
        entries = []
        for value in try r.array("entries") {
            let e = ReplyReader(value: value)
            entries.append(Entry(rank: try e.int("rank"), user: try e.string("user"), value: try e.double("value")))
        }
        switch reply["user"] {
        case nil: own = nil
        case .null?: own = .unranked
        case let value?:
            let e = ReplyReader(value: value)
            own = .ranked(Entry(rank: try e.int("rank"), user: try e.string("user"), value: try e.double("value")))
        }
    }
}

/// The `stats` reply: a user's windows (closed ones' latest results and open ones), each a
/// `window.<user>` payload.
public struct StatsReply: Reply, Equatable {
    public var user: String
    public var windows: [RawObject]

    public init(user: String, windows: [RawObject]) {
        self.user = user
        self.windows = windows
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.key("windows")
        w.beginArray()
        for window in windows { window.write(into: &w) }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        windows = try r.array("windows").map(RawObject.init(reading:))
    }
}

/// The `offers` reply: the offers valid now for a user, each an `offer.*` payload.
public struct OffersReply: Reply, Equatable {
    public var user: String
    public var offers: [RawObject]

    public init(user: String, offers: [RawObject]) {
        self.user = user
        self.offers = offers
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.key("offers")
        w.beginArray()
        for offer in offers { offer.write(into: &w) }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        offers = try r.array("offers").map(RawObject.init(reading:))
    }
}

/// The `offers.preview` reply: what a rule file would have issued since `since`, its figures
/// as the offer engine's preview writes them (`events_replayed`, `offers`, `users`,
/// `by_region`, `rules`).
public struct OffersPreviewReply: Reply, Equatable {
    public var since: Int
    /// The preview's members after `since`.
    public var preview: RawObject

    public init(since: Int, preview: RawObject) {
        self.since = since
        self.preview = preview
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("since", since)
        w.raw(preview.members)
    }

    public init(reply: JSONValue) throws(CommandError) {
        since = try ReplyReader(value: reply).int("since")
        var rest = reply.objectValue ?? JSONObject()
        for key in ["ok", "since"] { rest[key] = nil }
        preview = RawObject(reading: .object(rest))
    }
}

/// `submit`: events to make durable, as a JSON array (any event types).
public struct SubmitRequest: Request, Equatable {
    public static let op = Op.submit
    /// The `events` array, serialized.
    public var events: [UInt8]

    public init(events: [JSONValue]) { self.events = JSONValue.array(events).serialized() }

    public init(request: JSONObject) throws(CommandError) {
        guard let value = request["events"] else { throw .missingField("events") }
        guard case .array = value else { throw .wrongType("field 'events' must be an array of events") }
        events = value.serialized()
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("events")
        w.raw(events)
    }
}

/// `offers.preview`: replay the recorded log through a rule file, issuing nothing.
public struct OffersPreviewRequest: Request, Equatable {
    public static let op = Op.offersPreview

    /// From when: epoch ms, or a duration back from now (`30d`, `12h`).
    public enum Since: Sendable, Equatable {
        case millis(Int64)
        case ago(String)
    }

    /// The YAML text of an offer rules file.
    public var rules: String
    public var since: Since?
    /// The file's name, for error messages.
    public var file: String?

    public init(rules: String, since: Since? = nil, file: String? = nil) {
        self.rules = rules
        self.since = since
        self.file = file
    }

    public init(request: JSONObject) throws(CommandError) {
        guard let rules = request["rules"]?.stringValue else {
            throw CommandError("missing_field", "missing required field 'rules' (the YAML text of an offer rules file)")
        }
        self.rules = rules
        switch request["since"] {
        case nil: since = nil
        case let value?:
            if let ms = value.int64Value {
                since = .millis(ms)
            } else if let text = value.stringValue {
                since = .ago(text)
            } else {
                throw .wrongType("field 'since' must be a duration such as 30d or epoch milliseconds")
            }
        }
        file = request["file"]?.stringValue
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("rules", rules)
        switch since {
        case nil: break
        case .millis(let ms): w.member("since", Int(ms))
        case .ago(let text): w.member("since", text)
        }
        w.optionalMember("file", file)
    }
}
