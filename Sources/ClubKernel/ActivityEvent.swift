import JSON
import Synchronization

/// One event of the activity log, the Activity subsystem's event queue: as it is appended (offset
/// 0) and as its consumers read it back (at its offset). Offsets grow with every accepted event
/// and never repeat (a refused duplicate may leave a gap). One type from the append to the
/// engines: storage keeps ``json``, the rules read ``body``.
public struct ActivityEvent: Sendable, Equatable {
    /// Assigned by the log; 0 before the event is appended.
    public let offset: Int64
    /// Event time (its `ts`, or when it was received), epoch milliseconds.
    public let at: Int64
    /// Everything else, in one shared box: an event is copied at every hand-over (the log's
    /// tail, each consumer's batch, a group event per member), and a copy then costs one
    /// reference count instead of one per string and buffer.
    private let payload: Payload

    public var id: String { payload.id }
    public var type: String { payload.type }
    public var user: String { payload.user }
    /// The event as submitted, unknown fields included: what the log stores and `activity.<type>`
    /// publishes.
    public var json: [UInt8] { payload.json }
    /// What the event grants or needs of the user's consent, checked when it is appended.
    public var consent: ConsentEffect? { payload.consent }
    /// The principal that sent it in `security.mode: curve` (`device:<id>`, `service:<name>`,
    /// `admin:<name>`), as the log records it; nil in open mode and for raised events.
    public var sender: String? { payload.sender }

    /// An event as received (`json`), to append or as read back from the log.
    public init(
        offset: Int64 = 0, id: String, type: String, user: String, at: Int64, json: [UInt8], consent: ConsentEffect? = nil,
        sender: String? = nil
    ) {
        self.offset = offset
        self.at = at
        payload = Payload(id: id, type: type, user: user, json: json, consent: consent, sender: sender, object: nil)
    }

    /// An event as received whose fields a decoder has already parsed: the log's consumers use
    /// them instead of parsing `json` again.
    public init(
        id: String, type: String, user: String, at: Int64, json: [UInt8], body: JSONObject, consent: ConsentEffect?, sender: String? = nil
    ) {
        offset = 0
        self.at = at
        payload = Payload(id: id, type: type, user: user, json: json, consent: consent, sender: sender, object: body)
    }

    /// Whether a device sent it about its own user (`security.mode: curve`): a self-asserted
    /// event, which earns no points (docs/security.md).
    public var isSelfAsserted: Bool { sender?.hasPrefix("device:") == true }

    /// An event made of parsed fields (tests, replays).
    public init(offset: Int64, id: String, type: String, user: String, at: Int64, body: JSONObject) {
        self.init(offset: offset, id: id, type: type, user: user, at: at, json: JSONValue.object(body).serialized())
    }

    /// The same event credited to another user (a group's event for each of its members); the
    /// fields, if parsed, are shared.
    public func crediting(_ user: String) -> ActivityEvent {
        ActivityEvent(offset: offset, at: at, payload: payload.crediting(user))
    }

    /// The same event at the offset the log gave it; the fields, if parsed, are shared.
    public func appended(at offset: Int64) -> ActivityEvent {
        ActivityEvent(offset: offset, at: at, payload: payload)
    }

    private init(offset: Int64, at: Int64, payload: Payload) {
        self.offset = offset
        self.at = at
        self.payload = payload
    }

    /// The event's fields, read from ``json`` when first asked for and kept: a consumer that has
    /// no use for an event's type never pays for parsing it. Empty when `json` is not an object
    /// (the decoders let only objects into the log).
    public var body: JSONObject { payload.object }

    public static func == (a: ActivityEvent, b: ActivityEvent) -> Bool {
        a.offset == b.offset && a.at == b.at
            && (a.payload === b.payload
                || (a.id == b.id && a.type == b.type && a.user == b.user && a.json == b.json && a.consent == b.consent && a.sender == b.sender))
    }

    /// An event the daemon raises itself: `type`, `id` and `ts`, then `members` (already
    /// serialized, the user among them). Its id follows from what it describes, so that
    /// raising it again (a replay after a crash) makes a duplicate.
    public static func raised(_ type: String, id: String, user: String, at: Int64, members: [UInt8]) -> ActivityEvent {
        raised(type, id: id, user: user, at: at, capacity: members.count + 96) { w in w.raw(members) }  // already serialized
    }

    /// An event the daemon raises itself, its members (the user among them) written by `members`
    /// into the event's own writer: for events raised at the rate of the log, one buffer each.
    public static func raised(
        _ type: String, id: String, user: String, at: Int64, capacity: Int = 256, members: (inout JSONWriter) -> Void
    ) -> ActivityEvent {
        var w = JSONWriter(capacity: capacity)
        w.beginObject()
        w.member("type", type)
        w.member("id", id)
        w.member("ts", Int(at))
        members(&w)
        w.endObject()
        return ActivityEvent(id: id, type: type, user: user, at: at, json: w.bytes)
    }
}

/// An event's identity, JSON and sender, and its fields once parsed. A class, so that copies of
/// an event (the log's in-memory tail, each consumer's batch) share it and one parse; the
/// cache is behind a `Mutex` and everything else is immutable, so it is `Sendable` as it stands.
final class Payload: Sendable {
    let id: String
    let type: String
    let user: String
    let json: [UInt8]
    let consent: ConsentEffect?
    let sender: String?
    private let cache: Mutex<JSONObject?>

    init(id: String, type: String, user: String, json: [UInt8], consent: ConsentEffect?, sender: String?, object: JSONObject?) {
        self.id = id
        self.type = type
        self.user = user
        self.json = json
        self.consent = consent
        self.sender = sender
        cache = Mutex(object)
    }

    /// The same payload for another user, sharing one parse of the fields.
    func crediting(_ user: String) -> Payload {
        Payload(id: id, type: type, user: user, json: json, consent: consent, sender: sender, object: object)  // parsed once for all
    }

    var object: JSONObject {
        cache.withLock { cached in
            if let cached { return cached }
            let parsed: JSONObject
            if case .object(let object) = try? JSONValue.parse(json) { parsed = object } else { parsed = JSONObject() }
            cached = parsed
            return parsed
        }
    }
}

/// What an activity event means for consent, worked out when it is decoded.
public enum ConsentEffect: Sendable, Equatable {
    /// A `connection` event: the user's connection to `system` becomes active or revoked.
    case connection(system: String, active: Bool)
    /// A workout from an external system: accepted only while the connection is active.
    case needs(system: String)
}
