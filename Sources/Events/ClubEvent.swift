import ClubKernel
import JSON

/// A validated event other than telemetry: a `workout`, `profile`, `connection` or an
/// activity event `<area>.<action>`. Its full JSON is kept for the subsystem that handles it.
public struct ClubEvent: Sendable, Equatable {
    public let type: String
    public let id: String
    public let user: String
    /// Event time from its optional `ts`, epoch milliseconds.
    public let ts: Int64?
    public let body: JSONObject
    /// The event's JSON exactly as received, for storing without writing it again.
    public let json: [UInt8]
    /// Its position in the batch it came in, if it came in one.
    public var index: Int?
    /// The principal that sent it (``Principal/description``) in `security.mode: curve`; nil in
    /// open mode.
    public var sender: String?

    public init(type: String, id: String, user: String, ts: Int64?, body: JSONObject, json: [UInt8]) {
        self.type = type
        self.id = id
        self.user = user
        self.ts = ts
        self.body = body
        self.json = json
    }
}

/// What the decoder made of one frame or one `submit` request.
public struct DecodedEvents: Sendable {
    public var samples: [TelemetrySample] = []
    public var events: [ClubEvent] = []
    public var rejections: [Rejection] = []

    public init() {}

    /// Events accepted, of any kind.
    public var acceptedCount: Int { samples.count + events.count }
}
