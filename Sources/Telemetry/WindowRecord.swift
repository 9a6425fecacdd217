/// A closed window's result as published, for `stats` queries.
public struct WindowRecord: Sendable, Equatable {
    public let pipeline: String
    public let user: String
    public let start: Int64
    public let end: Int64
    /// The published JSON payload.
    public let result: [UInt8]

    public init(pipeline: String, user: String, start: Int64, end: Int64, result: [UInt8]) {
        self.pipeline = pipeline
        self.user = user
        self.start = start
        self.end = end
        self.result = result
    }
}
