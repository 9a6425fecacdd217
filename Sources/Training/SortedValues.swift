/// A multiset of integers kept sorted in chunks of a few hundred: inserting, removing and
/// counting the values below or above one cost O(log n + chunk) instead of the O(n) of one
/// sorted array or of a scan — what lets a cohort of a million results rank each new one exactly.
struct SortedValues: Sendable, Equatable {
    /// Each sorted, non-empty, and every value of a chunk ≤ every value of the next.
    private var chunks: [[Int64]] = []
    private(set) var count = 0

    static let chunkLimit = 512

    /// The chunk where `value` belongs: the first whose last value is ≥ it, else the last.
    private func chunkIndex(for value: Int64) -> Int {
        var low = 0
        var high = chunks.count - 1
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid].last! < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The index of the first element of `chunk` that is ≥ `value` (or > it with `after`).
    private static func bound(_ chunk: [Int64], _ value: Int64, after: Bool) -> Int {
        var low = 0
        var high = chunk.count
        while low < high {
            let mid = (low + high) / 2
            if chunk[mid] < value || (after && chunk[mid] == value) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    mutating func insert(_ value: Int64) {
        count += 1
        guard !chunks.isEmpty else {
            chunks = [[value]]
            return
        }
        let i = chunkIndex(for: value)
        chunks[i].insert(value, at: Self.bound(chunks[i], value, after: true))
        if chunks[i].count > 2 * Self.chunkLimit {
            let upper = Array(chunks[i][Self.chunkLimit...])
            chunks[i].removeLast(chunks[i].count - Self.chunkLimit)
            chunks.insert(upper, at: i + 1)
        }
    }

    /// Removes one occurrence of `value`; false when there is none.
    @discardableResult
    mutating func remove(_ value: Int64) -> Bool {
        guard !chunks.isEmpty else { return false }
        let i = chunkIndex(for: value)
        let at = Self.bound(chunks[i], value, after: false)
        guard at < chunks[i].count, chunks[i][at] == value else { return false }
        chunks[i].remove(at: at)
        if chunks[i].isEmpty { chunks.remove(at: i) }
        count -= 1
        return true
    }

    /// How many values are below `value`.
    func count(below value: Int64) -> Int { rank(value, after: false) }

    /// How many values are above `value`.
    func count(above value: Int64) -> Int { count - rank(value, after: true) }

    private func rank(_ value: Int64, after: Bool) -> Int {
        var n = 0
        for chunk in chunks {
            guard let last = chunk.last, last < value || (after && last == value) else {
                return n + Self.bound(chunk, value, after: after)
            }
            n += chunk.count
        }
        return n
    }

    /// The `index`-th smallest value (0-based; `index < count`).
    func element(at index: Int) -> Int64 {
        var left = index
        for chunk in chunks {
            if left < chunk.count { return chunk[left] }
            left -= chunk.count
        }
        preconditionFailure("element \(index) of \(count)")
    }

    /// The values in ascending order.
    var ascending: FlattenSequence<[[Int64]]> { chunks.joined() }
}
