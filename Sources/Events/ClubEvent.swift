import JSON

/// A validated event other than telemetry: a `workout`, `profile`, `connection` or an
/// activity event `<area>.<action>`. Its full JSON is kept for the subsystem that handles it.
public struct ClubEvent: Sendable, Equatable {
    public let type: String
    public let id: String
    public let user: String
    public let body: JSONObject

    public init(type: String, id: String, user: String, body: JSONObject) {
        self.type = type
        self.id = id
        self.user = user
        self.body = body
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
