import Pipeline

/// The store protocols the pipelines and their stages declare, implemented on SQLite.
extension ClubStore: ActivityLogStore, TelemetryStore, BonusStore, OfferStore, ConsumerStateStore, ConsumerOffsetStore {}
