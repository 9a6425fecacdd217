/// The standings of one board in one period and scope: every user's value, kept ranked.
///
/// Order: the better value first; on equal values the user who reached it first (the end
/// of the workout that brought the value), then the user id.
public struct Standings: Sendable, Equatable, Codable {
    /// One ranked line.
    public struct Entry: Sendable, Equatable, Codable {
        public let user: String
        public let value: Double
        public let reachedAt: Int64
    }

    struct Contribution: Sendable, Equatable, Codable {
        let value: Double
        let at: Int64
    }

    /// Lower values rank higher (best times).
    public let ascending: Bool
    /// A user's value is the sum of the contributions, or else the best one.
    let sums: Bool
    /// The ranking, best first, in chunks of at most `chunkSize` entries: inserting or
    /// removing moves at most one chunk, and sharing the standings with a reader copies
    /// only the chunk that changes next.
    private var chunks: [[Entry]] = []
    static let chunkSize = 512
    /// Each ranked user's entry, to find it in `ranking` by binary search.
    private var entries: [String: Entry] = [:]
    /// Per user, what each counted workout contributes.
    private var contributions: [String: [String: Contribution]] = [:]

    public init(ascending: Bool, sums: Bool) {
        self.ascending = ascending
        self.sums = sums
    }

    public private(set) var count = 0

    /// The whole ranking, best first.
    public var ranking: [Entry] { Array(chunks.joined()) }

    /// The best `n` entries.
    public func top(_ n: Int) -> [Entry] { Array(chunks.joined().prefix(n)) }

    /// Adds, or removes with `value: nil`, the contribution of workout `id` of `user`.
    mutating func set(user: String, workout id: String, value: Double?, at: Int64) {
        if let old = entries[user] { remove(old) }
        var mine = contributions[user] ?? [:]
        mine[id] = value.map { Contribution(value: $0, at: at) }
        guard !mine.isEmpty else {
            contributions[user] = nil
            entries[user] = nil
            return
        }
        contributions[user] = mine
        // Sum in a fixed order, so the value never depends on dictionary order.
        let ordered = mine.sorted { $0.key < $1.key }.map(\.value)
        let entry: Entry
        if sums {
            entry = Entry(user: user, value: ordered.reduce(0) { $0 + $1.value }, reachedAt: ordered.map(\.at).max()!)
        } else {
            let best = ordered.min { ($0.value, $0.at) < ($1.value, $1.at) }!
            entry = Entry(user: user, value: best.value, reachedAt: best.at)
        }
        entries[user] = entry
        insert(entry)
    }

    /// 1-based rank and the entry of `user`, if ranked.
    public func rank(of user: String) -> (rank: Int, entry: Entry)? {
        guard let entry = entries[user] else { return nil }
        let (chunk, index) = position(of: entry)
        return (chunks[..<chunk].reduce(0) { $0 + $1.count } + index + 1, entry)
    }

    func precedes(_ a: Entry, _ b: Entry) -> Bool {
        if a.value != b.value { return ascending ? a.value < b.value : a.value > b.value }
        if a.reachedAt != b.reachedAt { return a.reachedAt < b.reachedAt }
        return a.user < b.user
    }

    /// The chunk that holds, or would hold, `entry`, and its place in that chunk.
    private func position(of entry: Entry) -> (chunk: Int, index: Int) {
        // The first chunk whose last entry does not precede `entry`.
        var low = 0
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if precedes(chunks[mid].last!, entry) { low = mid + 1 } else { high = mid }
        }
        let chunk = min(low, max(chunks.count - 1, 0))
        guard chunk < chunks.count else { return (0, 0) }
        let entries = chunks[chunk]
        var first = 0
        var last = entries.count
        while first < last {
            let mid = (first + last) / 2
            if precedes(entries[mid], entry) { first = mid + 1 } else { last = mid }
        }
        return (chunk, first)
    }

    private mutating func insert(_ entry: Entry) {
        count += 1
        guard !chunks.isEmpty else {
            chunks = [[entry]]
            return
        }
        let (chunk, index) = position(of: entry)
        chunks[chunk].insert(entry, at: index)
        if chunks[chunk].count > 2 * Self.chunkSize {
            let upper = Array(chunks[chunk][Self.chunkSize...])
            chunks[chunk].removeSubrange(Self.chunkSize...)
            chunks.insert(upper, at: chunk + 1)
        }
    }

    private mutating func remove(_ entry: Entry) {
        let (chunk, index) = position(of: entry)
        chunks[chunk].remove(at: index)
        if chunks[chunk].isEmpty { chunks.remove(at: chunk) }
        count -= 1
    }
}
