import ClubKernel
import Logging

/// What every consumer of the activity log reads: the entries after an offset, and how far
/// the log reaches (for its lag).
public protocol ActivityLogReading: Sendable {
    /// Up to `limit` log entries after `offset`, in order.
    /// - Throws: when the store cannot be read.
    func activity(after offset: Int64, limit: Int) async throws -> [ActivityEvent]
    /// Up to `limit` log entries after `offset` whose type is one of `types`, in order, and the
    /// offset the read reached: every entry after `offset` up to ``ActivityBatch/through``
    /// that is not returned has another type. A store may stop short of the log's end (it
    /// reads a bounded stretch per call); a consumer then moves on to `through` and reads again.
    /// - Throws: when the store cannot be read.
    func activity(after offset: Int64, limit: Int, types: Set<String>) async throws -> ActivityBatch
    /// The offset of the newest committed entry (0 for an empty log).
    var newestActivityOffset: Int64 { get }
}

/// Log entries of the types a consumer asked for, and how far the read reached.
public struct ActivityBatch: Sendable {
    public var records: [ActivityEvent]
    /// Every entry up to here was read: those of other types are not in ``records``.
    public var through: Int64

    public init(records: [ActivityEvent], through: Int64) {
        self.records = records
        self.through = through
    }
}

extension ActivityLogReading {
    /// Reads every entry and keeps those of `types`: for stores that cannot filter as they read.
    public func activity(after offset: Int64, limit: Int, types: Set<String>) async throws -> ActivityBatch {
        let records = try await activity(after: offset, limit: limit)
        return ActivityBatch(records: records.filter { types.contains($0.type) }, through: records.last?.offset ?? offset)
    }
}

/// A stage that reads the activity log: each step drains the entries after its offset,
/// applies them, commits their effects with the new offset and publishes. ``StageRunner``
/// drives every consumer the same way — when to drain, how to retry after a storage error,
/// how to report itself, when to stop — so a consumer implements only its own steps.
///
/// The contract a consumer keeps: ``apply(_:upTo:)`` either commits all of its effects
/// together with `upTo` or throws, and after a throw ``recover()`` makes the consumer's
/// in-memory state match what it committed, so the retry neither skips nor repeats an entry.
public protocol LogConsumer: Actor {
    /// The stage's name in `health`, metrics and logs.
    nonisolated var name: String { get }
    /// Log entries read per step.
    nonisolated var batchLimit: Int { get }
    /// The types of entry the stage applies (nil: every entry). The others are not read for it
    /// at all: its steps see only these, and its offset moves past the rest. Asked before each
    /// read, so it may change with a reload (entries passed before stay passed).
    var types: Set<String>? { get }
    /// Every entry up to here has been applied.
    var offset: Int64 { get }
    /// Applies `records` (entries after ``offset``, in order, of ``types``; possibly none when
    /// the log held only other types up to `upTo`), commits their effects with the offset
    /// `upTo` and publishes what they produced.
    /// - Throws: when the effects cannot be committed; nothing of them is then committed.
    func apply(_ records: [ActivityEvent], upTo: Int64) async throws
    /// Work that falls due without new entries: expiries, campaigns, coalesced publications,
    /// periodic commits. Called after every drain.
    func due() async throws
    /// After a failed step: drops what was applied but not committed (reloading from the
    /// store) or finishes what was committed but not handed on.
    func recover() async throws
    /// The last commit before the daemon stops (a consumer that commits lazily saves here).
    func close() async throws
}

extension LogConsumer {
    public var types: Set<String>? { nil }
    public func due() async throws {}
    public func recover() async throws {}
    public func close() async throws {}
}
