import JSON
import Synchronization

/// One event of the activity log, the Activity subsystem's event queue: as it is appended (offset
/// 0) and as its consumers read it back (at its offset). Offsets grow with every accepted event
/// and never repeat (a refused duplicate may leave a gap). One type from the append to the
/// engines: storage keeps ``json``, the rules read ``body``.
public struct ActivityEvent: Sendable, Equatable {
    /// Assigned by the log; 0 before the event is appended.
    public let offset: Int64
    public let id: String
    public let type: String
    public let user: String
    /// Event time (its `ts`, or when it was received), epoch milliseconds.
    public let at: Int64
    /// The event as submitted, unknown fields included: what the log stores and `activity.<type>`
    /// publishes.
    public let json: [UInt8]
    /// What the event grants or needs of the user's consent, checked when it is appended.
    public let consent: ConsentEffect?
    /// The principal that sent it in `security.mode: curve` (`device:<id>`, `service:<name>`,
    /// `admin:<name>`), as the log records it; nil in open mode and for raised events.
    public let sender: String?
    private let fields: ParsedFields

    /// An event as received (`json`), to append or as read back from the log.
    public init(
        offset: Int64 = 0, id: String, type: String, user: String, at: Int64, json: [UInt8], consent: ConsentEffect? = nil,
        sender: String? = nil
    ) {
        self.init(
            offset: offset, id: id, type: type, user: user, at: at, json: json, consent: consent, sender: sender,
            fields: ParsedFields(json: json))
    }

    /// An event as received whose fields a decoder has already parsed: the log's consumers use
    /// them instead of parsing `json` again.
    public init(
        id: String, type: String, user: String, at: Int64, json: [UInt8], body: JSONObject, consent: ConsentEffect?, sender: String? = nil
    ) {
        self.init(
            offset: 0, id: id, type: type, user: user, at: at, json: json, consent: consent, sender: sender,
            fields: ParsedFields(json: json, object: body))
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
        ActivityEvent(offset: offset, id: id, type: type, user: user, at: at, json: json, consent: consent, sender: sender, fields: fields)
    }

    /// The same event at the offset the log gave it; the fields, if parsed, are shared.
    public func appended(at offset: Int64) -> ActivityEvent {
        ActivityEvent(offset: offset, id: id, type: type, user: user, at: at, json: json, consent: consent, sender: sender, fields: fields)
    }

    private init(
        offset: Int64, id: String, type: String, user: String, at: Int64, json: [UInt8], consent: ConsentEffect?, sender: String?,
        fields: ParsedFields
    ) {
        self.offset = offset
        self.id = id
        self.type = type
        self.user = user
        self.at = at
        self.json = json
        self.consent = consent
        self.sender = sender
        self.fields = fields
    }

    /// The event's fields, read from ``json`` when first asked for and kept: a consumer that has
    /// no use for an event's type never pays for parsing it. Empty when `json` is not an object
    /// (the decoders let only objects into the log).
    public var body: JSONObject { fields.object }

    public static func == (a: ActivityEvent, b: ActivityEvent) -> Bool {
        a.offset == b.offset && a.id == b.id && a.type == b.type && a.user == b.user && a.at == b.at && a.json == b.json
            && a.consent == b.consent && a.sender == b.sender
    }

    /// An event the daemon raises itself: `type`, `id` and `ts`, then `members` (already
    /// serialized, the user among them). Its id follows from what it describes, so that
    /// raising it again (a replay after a crash) makes a duplicate.
    public static func raised(_ type: String, id: String, user: String, at: Int64, members: [UInt8]) -> ActivityEvent {
        var w = JSONWriter(capacity: members.count + 96)
        w.beginObject()
        w.member("type", type)
        w.member("id", id)
        w.member("ts", Int(at))
        w.raw(members)  // members of the object, already serialized
        w.endObject()
        return ActivityEvent(id: id, type: type, user: user, at: at, json: w.bytes)
    }
}

/// An event's JSON and its fields once parsed. A class, so that copies of an event (the log's
/// in-memory tail, each consumer's batch) share one parse; the cache is behind a `Mutex`, so it
/// is `Sendable` as it stands.
final class ParsedFields: Sendable {
    private let json: [UInt8]
    private let cache: Mutex<JSONObject?>

    init(json: [UInt8], object: JSONObject? = nil) {
        self.json = json
        cache = Mutex(object)
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
