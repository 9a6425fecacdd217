import JSON

/// One entry of the activity log: an event accepted into the Activity subsystem's queue,
/// at its offset. Offsets grow with every accepted event and never repeat (a refused
/// duplicate may leave a gap).
public struct ActivityEvent: Sendable, Equatable {
    public let offset: Int64
    public let id: String
    public let type: String
    public let user: String
    /// Event time (its `ts`, or when it was received), epoch milliseconds.
    public let at: Int64
    /// The event as submitted, unknown fields included.
    public let body: JSONObject

    public init(offset: Int64, id: String, type: String, user: String, at: Int64, body: JSONObject) {
        self.offset = offset
        self.id = id
        self.type = type
        self.user = user
        self.at = at
        self.body = body
    }
}
