import Bonus
import ClubKernel
import ClubRuntime
import Events
import Telemetry
import Users

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
    /// Replaces the snapshot, drops the journal entries it includes and writes the history
    /// batches not yet written (by generation), atomically. Keyed parts
    /// (``StateSnapshot/entries``) change by their entries' changes only, in the same
    /// transaction: the snapshot then costs what changed since the previous one.
    func save(_ snapshot: StateSnapshot, history: [HistoryBatch]) async throws
    func journal(after position: Int64) async throws -> [(seq: Int64, payload: [UInt8])]
    /// Records closed windows; an update replaces the earlier result of the same window.
    func record(_ windows: [WindowRecord]) async throws
}

/// A read of the telemetry history, with the generation of the newest batch it includes (the
/// history stage overlays what it holds beyond).
public struct HistoryRead<Value: Sendable>: Sendable {
    public var generation: Int64
    public var value: Value
    /// Stored chunks that did not decode (skipped, counted).
    public var corrupt: Int

    public init(generation: Int64, value: Value, corrupt: Int) {
        self.generation = generation
        self.value = value
        self.corrupt = corrupt
    }
}

/// What the history stage and the `history` op need of storage (written with the snapshot,
/// ``TelemetryStore/save(_:history:)``).
public protocol HistoryStore: Sendable {
    /// Raw samples of `user` with `from` ≤ ts < `to`, in arrival order.
    func historySamples(user: String, from: Int64, to: Int64) async throws -> HistoryRead<[TelemetrySample]>
    /// Minute or day rollups of `user` starting in [`from`, `to`), by start.
    func historyRollups(_ resolution: HistoryResolution, user: String, from: Int64, to: Int64) async throws -> HistoryRead<[Int64: Rollup]>
    /// Deletes at most `limit` rows of each resolution older than its cut-off (nil: none).
    /// - Returns: rows deleted.
    func deleteHistory(samplesBefore: Int64?, minutesBefore: Int64?, daysBefore: Int64?, limit: Int) async throws -> Int
}

/// Everything the pipelines and their stages need of storage: what `PipelineRuntime` is
/// given. Each stage sees only its own part.
public typealias PipelineStore = TelemetryStore & HistoryStore & ActivityLogStore & BonusStore & OfferStore & ConsumerStateStore
    & ConsumerOffsetStore

/// Everything the daemon needs of a storage engine: the pipelines' stores, what the command
/// operations read beside the stages, and the log's retention. `ClubStore` (Storage) is the
/// SQLite engine, `PostgresStore` (PostgresStorage) the PostgreSQL one (`storage.engine`).
public protocol ClubStorage: PipelineStore {
    /// Closed windows of `user` overlapping [from, to), oldest first.
    func windows(user: String, from: Int64, to: Int64) async throws -> [WindowRecord]
    /// The newest `limit` ledger entries of `user`, oldest first.
    func ledger(user: String, limit: Int) async throws -> [LedgerEntry]
    /// Ledger entries of every user after `after` (their sequence number), in booking order.
    func ledgerChanges(after: Int64, limit: Int) async throws -> [(seq: Int64, entry: LedgerEntry)]
    /// Offers issued after feed position `after`, in the order they were issued.
    func offerChanges(after: Int64, limit: Int) async throws -> [(seq: Int64, members: [UInt8])]
    /// Deletes log entries received before `cutoff` that the ledger, the offer stage and every
    /// named consumer have passed (except those an admission gate decided).
    /// - Returns: how many were deleted.
    func pruneActivity(receivedBefore cutoff: Int64, consumers: [String]) async throws -> Int
    /// Releases what the engine holds open (a server's connections); after it, no call is made.
    func close() async
    /// `sqlite` or `postgres`, as `storage.engine` names it.
    var engineName: String { get }
    /// Where the state is: the main file's path, or the server's URI without its password.
    var location: String { get }
}
