import JSON

/// A payload published on the PUB socket: the members a stage writes; the publisher adds
/// `topic`, `seq` and `at`. Each payload type writes itself (the stages) and reads itself back
/// (subscribers), so the contract's fields are stated once.
public protocol TopicPayload: Sendable {
    func writeMembers(into w: inout JSONWriter)
    init(payload: JSONValue) throws(CommandError)
}

extension TopicPayload {
    /// The serialized members, as `Publisher.Message` carries them.
    public var members: [UInt8] {
        var w = JSONWriter()
        writeMembers(into: &w)
        return w.bytes
    }
}

/// `rejected`: an ingest frame, a submitted event or an event of the log was refused.
public struct RejectedPayload: TopicPayload, Equatable {
    /// The reason code (docs/protocol.md).
    public var code: String
    public var message: String
    /// `ingest`, `submit`, `import`, `bonus` or `training`.
    public var source: String
    /// The element of a batch, when it applies.
    public var index: Int?
    /// The first bytes of what was refused (ingest and submit).
    public var excerpt: String?
    /// The refused event's id (refusals of the log's consumers).
    public var event: String?

    public init(code: String, message: String, source: String, index: Int? = nil, excerpt: String? = nil, event: String? = nil) {
        self.code = code
        self.message = message
        self.source = source
        self.index = index
        self.excerpt = excerpt
        self.event = event
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("code", code)
        w.member("message", message)
        w.member("source", source)
        if let index { w.member("index", index) }
        w.optionalMember("excerpt", excerpt)
        w.optionalMember("event", event)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        code = try r.string("code")
        message = try r.string("message")
        source = try r.string("source")
        index = payload["index"]?.int64Value.map { Int($0) }
        excerpt = payload["excerpt"]?.stringValue
        event = payload["event"]?.stringValue
    }
}

/// `bonus.<user>`: a ledger entry with the new balance, or an event the bonus rules refused
/// (a spend beyond the balance) with the balance unchanged.
public struct BonusPayload: TopicPayload, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `rule`, `kind` (`award`, `spend`, `expiry`), `points`, `entry_at`.
        case entry(rule: String, kind: String, points: Int, entryAt: Int)
        /// `refused`: {`code`, `message`}.
        case refused(code: String, message: String)
    }

    public var user: String
    public var event: String
    public var kind: Kind
    public var balance: Int

    public init(user: String, event: String, kind: Kind, balance: Int) {
        self.user = user
        self.event = event
        self.kind = kind
        self.balance = balance
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("event", event)
        switch kind {
        case .entry(let rule, let kind, let points, let entryAt):
            w.member("rule", rule)
            w.member("kind", kind)
            w.member("points", points)
            w.member("entry_at", entryAt)
        case .refused(let code, let message):
            w.key("refused")
            w.beginObject()
            w.member("code", code)
            w.member("message", message)
            w.endObject()
        }
        w.member("balance", balance)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        user = try r.string("user")
        event = try r.string("event")
        balance = try r.int("balance")
        if let refused = payload["refused"] {
            let f = ReplyReader(value: refused)
            kind = .refused(code: try f.string("code"), message: try f.string("message"))
        } else {
            kind = .entry(rule: try r.string("rule"), kind: try r.string("kind"), points: try r.int("points"), entryAt: try r.int("entry_at"))
        }
    }
}

/// `activity.<type>`: an event accepted into the activity log, at its offset, as it was received.
public struct ActivityPayload: TopicPayload, Equatable {
    public var offset: Int
    /// The event's JSON, unknown fields included.
    public var event: [UInt8]

    public init(offset: Int, event: [UInt8]) {
        self.offset = offset
        self.event = event
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("offset", offset)
        w.key("event")
        w.raw(event)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        offset = try r.int("offset")
        guard let event = payload["event"], case .object = event else { throw ReplyReader.missing("event", "an object") }
        self.event = event.serialized()
    }
}

/// `late`: a telemetry sample arrived after its windows had closed for good.
public struct LatePayload: TopicPayload, Equatable {
    public var message: String
    public var pipeline: String
    public var user: String
    public var device: String
    public var session: String
    /// The sample's event time, epoch ms.
    public var ts: Int
    /// The watermark minus the allowed lateness when it arrived, epoch ms.
    public var horizon: Int

    public init(message: String, pipeline: String, user: String, device: String, session: String, ts: Int, horizon: Int) {
        self.message = message
        self.pipeline = pipeline
        self.user = user
        self.device = device
        self.session = session
        self.ts = ts
        self.horizon = horizon
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("code", "late")
        w.member("message", message)
        w.member("pipeline", pipeline)
        w.member("user", user)
        w.member("device", device)
        w.member("session", session)
        w.member("ts", ts)
        w.member("horizon", horizon)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        message = try r.string("message")
        pipeline = try r.string("pipeline")
        user = try r.string("user")
        device = try r.string("device")
        session = try r.string("session")
        ts = try r.int("ts")
        horizon = try r.int("horizon")
    }
}
