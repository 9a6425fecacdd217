import ClubKernel
import ClubRuntime
import Offers
import Synchronization

/// The training stage's hand-off to the offer stage: the log entries the offer rules read, in
/// log order, each with its user's facts as the training stage knew them right after it. So a
/// member's profile, counted workouts (one copy per activity) and gear are learned once, by
/// the training stage, and the offer rules judge each event on exactly what the log had taught
/// up to it — as when the offer stage learned them itself.
///
/// The offer stage's runner reads the hand-off as its log: its offset, lag (against the real
/// log), retries and shutdown are those of every stage. Bounded: the training stage waits
/// while ``capacity`` entries are waiting.
///
/// The order of commits keeps replays exact: the training stage commits its state at an
/// offset only once the offer stage has committed that far (``waitCommitted(through:timeout:)``),
/// so after a crash the offer stage is never behind the training stage's state; the training
/// stage replays from its commit and hands on only what the offer stage has not committed.
final class OfferHandOff: ActivityLogReading, Sendable {
    struct Entry: Sendable {
        let event: ActivityEvent
        /// The user's facts after the event, for the types rules fire on (nil for the others).
        let facts: UserFacts?
    }

    private struct State {
        var entries: [Entry] = []
        var head = 0
        /// The training stage has handed on everything up to here.
        var through: Int64
        /// The offer stage has committed everything up to here.
        var committed: Int64
        /// A commit up to here is awaited (the training stage wants to commit its state).
        var wanted: Int64 = 0
        /// When the offer stage was last given entries.
        var servedAt: Int64 = 0
        /// The offer stage has applied everything up to here (it read after it).
        var applied: Int64 = 0

        /// The index of the first waiting entry after `offset` (`entries.count` if none).
        func index(after offset: Int64) -> Int {
            var low = head
            var high = entries.count
            while low < high {
                let middle = (low + high) / 2
                if entries[middle].event.offset <= offset { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    private let state: Mutex<State>
    private let newest: @Sendable () -> Int64
    /// Entries waiting at most, before the training stage waits.
    let capacity: Int
    /// Milliseconds the offer stage waits for a full batch at most.
    static let patience: Int64 = 50
    /// Wakes the offer stage.
    private let signal: LogSignal

    /// - Parameters:
    ///   - handed: where the training stage starts (its committed offset).
    ///   - committed: where the offer stage starts (its committed offset).
    ///   - newest: the log's newest offset, for the offer stage's lag.
    init(handed: Int64, committed: Int64, signal: LogSignal, capacity: Int = 20_000, newest: @escaping @Sendable () -> Int64) {
        state = Mutex(State(through: handed, committed: committed))
        self.signal = signal
        self.capacity = capacity
        self.newest = newest
    }

    // MARK: The training stage's side

    /// Hands on `entries` (after the offer stage's committed offset; others are dropped) and
    /// tells the offer stage that everything up to `through` was handed on.
    func hand(_ entries: [Entry], through: Int64) {
        state.withLock { s in
            s.entries += entries.lazy.filter { [committed = s.committed] in $0.event.offset > committed }
            s.through = max(s.through, through)
        }
        signal.notify()
    }

    /// Where the offer stage has committed: entries up to here are not handed on.
    var committedOffset: Int64 { state.withLock { $0.committed } }

    /// Whether fewer than ``capacity`` entries wait to be read by the offer stage (else the
    /// training stage waits before handing more). Entries it read but has not committed yet are
    /// kept besides, for a re-read after a failed commit: they do not count, as it commits them
    /// within a second.
    var hasRoom: Bool { state.withLock { $0.entries.count - $0.index(after: $0.applied) < capacity } }

    /// Waits until the offer stage has committed everything up to `offset`, asking it to commit
    /// what it applied without a commit of its own; false after `timeout` (it is failing, or
    /// stopped).
    func waitCommitted(through offset: Int64, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let done = state.withLock { s in
                if s.committed >= offset { return true }
                s.wanted = max(s.wanted, offset)
                return false
            }
            if done { return true }
            signal.notify()
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    // MARK: The offer stage's side

    /// The facts handed with the entry at `offset` (nil if none were).
    func facts(at offset: Int64) -> UserFacts? {
        state.withLock { s in
            let index = s.index(after: offset - 1)
            return index < s.entries.count && s.entries[index].event.offset == offset ? s.entries[index].facts : nil
        }
    }

    /// The offer stage committed everything up to `offset`.
    func committed(through offset: Int64) {
        state.withLock { s in s.committed = max(s.committed, offset) }
    }

    /// A commit the training stage waits for, past what the offer stage committed (nil if none).
    var commitWanted: Int64? { state.withLock { s in s.wanted > s.committed ? s.wanted : nil } }

    func activity(after offset: Int64, limit: Int) async throws -> [ActivityEvent] {
        try await activity(after: offset, limit: limit, types: []).records
    }

    /// The handed entries after `offset` (all of them: the training stage hands on only the
    /// types the offer stage names). Entries are dropped once committed, not once read: after
    /// a failed commit the offer stage reads again from its last commit.
    func activity(after offset: Int64, limit: Int, types: Set<String>) async throws -> ActivityBatch {
        state.withLock { s in
            s.applied = offset
            while s.head < s.entries.count, s.entries[s.head].event.offset <= s.committed { s.head += 1 }
            if s.head >= 4_096, s.head * 2 >= s.entries.count {
                s.entries.removeFirst(s.head)
                s.head = 0
            }
            let start = s.index(after: offset)
            // While the training stage is still reading ahead, wait for a full batch (one commit
            // per batch: handed 200 at a time, the offer stage would commit, and sync, per 200),
            // but never longer than a moment.
            let now = Clock.nowMillis()
            if s.entries.count - start < limit, s.through < newest(), now - s.servedAt < Self.patience { return ActivityBatch(records: [], through: offset) }
            s.servedAt = now
            let end = min(start + limit, s.entries.count)
            let records = s.entries[start..<end].map(\.event)
            let through = end < s.entries.count ? records[records.count - 1].offset : max(offset, s.through)
            return ActivityBatch(records: records, through: through)
        }
    }

    var newestActivityOffset: Int64 { newest() }
}
