import ClubKernel
import Synchronization

/// The newest entries of the activity log, kept in memory as they are committed. The log's
/// consumers mostly read what was just appended: with the tail, an entry is read from
/// the store by none of them instead of by each (four consumers read every entry). Each
/// storage engine keeps one, fed by its log's writer in commit order.
public final class ActivityTail: Sendable {
    private struct State {
        /// Committed entries in offset order; those before `head` are dropped.
        var records: [ActivityEvent] = []
        var head = 0
        /// Every committed entry with this offset or above is in `records[head...]`.
        var coveredFrom: Int64
        /// The newest committed entry's offset.
        var newest: Int64

        /// The index of the first entry after `offset` (`records.count` if none).
        func first(after offset: Int64) -> Int {
            var low = head
            var high = records.count
            while low < high {
                let middle = (low + high) / 2
                if records[middle].offset <= offset { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// Offsets one filtered read passes over at most, in the tail and in either engine's store:
    /// a consumer of few types catches up on a long stretch of others in steps of this many,
    /// each a short read.
    public static let filteredStretch: Int64 = 8_192

    private let state: Mutex<State>
    private let capacity: Int

    /// - Parameter nextOffset: above the newest entry in the log when the store opened.
    public init(nextOffset: Int64, capacity: Int) {
        state = Mutex(State(coveredFrom: nextOffset, newest: nextOffset - 1))
        self.capacity = capacity
    }

    /// Adds entries just committed, in commit order.
    public func append(_ committed: [ActivityEvent]) {
        guard !committed.isEmpty else { return }
        state.withLock { s in
            s.records += committed
            s.newest = max(s.newest, committed[committed.count - 1].offset)
            let excess = s.records.count - s.head - capacity
            if excess > 0 {
                s.coveredFrom = s.records[s.head + excess - 1].offset + 1
                s.head += excess
            }
            if s.head >= capacity {
                s.records.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// The newest committed entry's offset (0 for an empty log).
    public var newest: Int64 { state.withLock { $0.newest } }

    /// Up to `limit` entries after `offset`, or nil when the tail does not hold all of them.
    public func read(after offset: Int64, limit: Int) -> [ActivityEvent]? {
        state.withLock { s in
            guard offset + 1 >= s.coveredFrom else { return nil }
            let low = s.first(after: offset)
            return Array(s.records[low..<min(low + limit, s.records.count)])
        }
    }

    /// Up to `limit` entries after `offset` of `types` among the next `stretch` offsets, and
    /// how far that reached; nil when the tail does not hold the entries after `offset`.
    public func read(after offset: Int64, limit: Int, types: Set<String>, stretch: Int64) -> ActivityBatch? {
        state.withLock { s in
            guard offset + 1 >= s.coveredFrom else { return nil }
            let low = s.first(after: offset)
            var records: [ActivityEvent] = []
            var through = offset
            for index in low..<s.records.count {
                let record = s.records[index]
                guard record.offset <= offset + stretch else { break }
                through = record.offset
                if types.contains(record.type) {
                    records.append(record)
                    if records.count == limit { break }
                }
            }
            return ActivityBatch(records: records, through: through)
        }
    }
}
