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
    /// Best first.
    public private(set) var ranking: [Entry] = []
    /// Each ranked user's entry, to find it in `ranking` by binary search.
    private var entries: [String: Entry] = [:]
    /// Per user, what each counted workout contributes.
    private var contributions: [String: [String: Contribution]] = [:]

    public init(ascending: Bool, sums: Bool) {
        self.ascending = ascending
        self.sums = sums
    }

    public var count: Int { ranking.count }

    /// Adds, or removes with `value: nil`, the contribution of workout `id` of `user`.
    mutating func set(user: String, workout id: String, value: Double?, at: Int64) {
        if let old = entries[user] { ranking.remove(at: insertionPoint(of: old)) }
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
        ranking.insert(entry, at: insertionPoint(of: entry))
    }

    /// 1-based rank and the entry of `user`, if ranked.
    public func rank(of user: String) -> (rank: Int, entry: Entry)? {
        entries[user].map { (insertionPoint(of: $0) + 1, $0) }
    }

    func precedes(_ a: Entry, _ b: Entry) -> Bool {
        if a.value != b.value { return ascending ? a.value < b.value : a.value > b.value }
        if a.reachedAt != b.reachedAt { return a.reachedAt < b.reachedAt }
        return a.user < b.user
    }

    /// Where `entry` is, or would be inserted, in `ranking`.
    private func insertionPoint(of entry: Entry) -> Int {
        var low = 0
        var high = ranking.count
        while low < high {
            let mid = (low + high) / 2
            if precedes(ranking[mid], entry) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
