/// A window's aggregates when it closed, or its correction after a late sample.
public struct WindowResult: Sendable, Equatable {
    public let user: String
    public let start: Int64
    /// Exclusive end. For session windows: the last sample plus the gap.
    public let end: Int64
    public let aggregate: WindowAggregate
    /// True when this corrects a result already emitted for the same window.
    public let isUpdate: Bool
    /// True while the window is still open (only in `stats` answers, never published).
    public let isOpen: Bool

    public init(user: String, start: Int64, end: Int64, aggregate: WindowAggregate, isUpdate: Bool, isOpen: Bool = false) {
        self.user = user
        self.start = start
        self.end = end
        self.aggregate = aggregate
        self.isUpdate = isUpdate
        self.isOpen = isOpen
    }
}

/// What one batch of samples produced.
public struct WindowOutput: Sendable {
    /// Closed windows and corrections, in the order they happened.
    public var results: [WindowResult] = []
    /// Samples whose windows were closed for good.
    public var late: [LateSample] = []
    /// Samples repeated with the same (device, session, ts), counted once.
    public var duplicates = 0
    /// Indices in the batch of the samples refused (late or repeated), ascending.
    public var refused: [Int] = []

    public init() {}
}

/// A sample refused as late, with the horizon it missed.
public struct LateSample: Sendable {
    public let user: String
    public let device: String
    public let session: String
    public let ts: Int64
    /// Windows ending at or before this time were final when the sample arrived.
    public let horizon: Int64
}
