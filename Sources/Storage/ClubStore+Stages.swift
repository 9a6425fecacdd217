import Pipeline

/// The store protocols the pipelines and their stages declare, implemented on SQLite.
extension ClubStore: ActivityLogStore, TelemetryStore, BonusStore, OfferStore, ConsumerStateStore, ConsumerOffsetStore, ClubStorage {
    /// SQLite's files close with the store (its connections are released when it goes).
    public func close() async {}

    public var engineName: String { "sqlite" }
    public var location: String { pool.path }
}
