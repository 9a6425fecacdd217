import Telemetry

/// A validated pipeline, as declared in a `Pipelines/*.yaml` file.
///
/// A pipeline is a chain of stages: a `source` choosing which validated events enter, a
/// `window` stage computing per-user aggregates in event time, and a `publish` sink
/// naming the topic prefix (`window` gives `window.<user>`) and, optionally, an activity
/// event type under which each window's final result also joins the activity log.
public struct PipelineDefinition: Sendable, Equatable {
    /// Unique name of the pipeline; it appears in outputs and snapshots.
    public let name: String
    /// The file it came from.
    public let file: String
    /// Event types the source takes in (only `telemetry` feeds windows today).
    public let sourceTypes: [String]
    public let window: WindowSpec
    /// Topic prefix of the publish sink; results go to `<prefix>.<user>`.
    public let topicPrefix: String
    /// When set, every window's final result is raised as an activity event of this type.
    public let activityType: String?

    public init(
        name: String, file: String, sourceTypes: [String], window: WindowSpec, topicPrefix: String, activityType: String? = nil
    ) {
        self.name = name
        self.file = file
        self.sourceTypes = sourceTypes
        self.window = window
        self.topicPrefix = topicPrefix
        self.activityType = activityType
    }
}
