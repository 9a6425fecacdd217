import ClubKernel
import ClubRuntime
import Telemetry

/// What the pipeline loop and the log's writers need of the activity log: appends (the
/// consent checks and the duplicate ids are decided there, in log order) and the deletion of a
/// user's imports.
public protocol ActivityLogStore: ActivityLogReading {
    /// Appends events (ingest, raised events): not acknowledged, so no journal.
    func appendActivity(_ events: [ActivityEvent], receivedAt: Int64) async throws -> [AppendOutcome]
    /// Makes a `submit` durable in one transaction: its telemetry in the journal and its other
    /// events in the log.
    func appendSubmission(journal payload: [UInt8]?, events: [ActivityEvent], receivedAt: Int64) async throws -> (
        journalSeq: Int64?, appended: [AppendOutcome]
    )
    /// Deletes a user's workout events from `system` and appends `notice`, in one transaction.
    func forgetImports(user: String, system: String, notice: ActivityEvent, receivedAt: Int64) async throws -> Int
}

/// What the telemetry pipelines need of storage: snapshots with the journal position they
/// hold, the journal of acknowledged telemetry since, and the history of closed windows.
public protocol TelemetryStore: Sendable {
    func loadSnapshot() async throws -> StateSnapshot?
    /// Replaces the snapshot and drops the journal entries it includes, atomically.
    func save(_ snapshot: StateSnapshot) async throws
    func journal(after position: Int64) async throws -> [(seq: Int64, payload: [UInt8])]
    /// Records closed windows; an update replaces the earlier result of the same window.
    func record(_ windows: [WindowRecord]) async throws
}

/// Everything the pipelines and their stages need of storage: what `PipelineRuntime` is
/// given. Each stage sees only its own part.
public typealias PipelineStore = TelemetryStore & ActivityLogStore & BonusStore & OfferStore & ConsumerStateStore
    & ConsumerOffsetStore
