/// The standings of one board in one period and scope: every user's value, kept ranked.
///
/// Order: the better value first; on equal values the user who reached it first (the end
/// of the workout that brought the value), then the user id.
public struct Standings: Sendable {
    /// One ranked line.
    public struct Entry: Sendable, Equatable {
        public let user: String
        public let value: Double
        public let reachedAt: Int64
    }

    struct Contribution: Sendable, Equatable {
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

    /// The workouts that contribute, of every user.
    var workouts: some Sequence<String> { contributions.values.lazy.flatMap(\.keys) }

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
        let entry = entry(of: user, mine)
        entries[user] = entry
        insert(entry)
    }

    /// A user's line: the sum of the contributions or the best one.
    private func entry(of user: String, _ mine: [String: Contribution]) -> Entry {
        // Sum in a fixed order, so the value never depends on dictionary order.
        let ordered = mine.sorted { $0.key < $1.key }.map(\.value)
        if sums {
            return Entry(user: user, value: ordered.reduce(0) { $0 + $1.value }, reachedAt: ordered.map(\.at).max()!)
        }
        // The best single contribution: the lowest for ascending boards (best time), else the
        // highest (the longest activity); the earliest of equals.
        let best = ordered.min { a, b in a.value != b.value ? (ascending ? a.value < b.value : a.value > b.value) : a.at < b.at }!
        return Entry(user: user, value: best.value, reachedAt: best.at)
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

/// Equal when the contributions are: the ranking follows from them (its chunk boundaries
/// depend on the order of insertions and are not compared).
extension Standings: Equatable {
    public static func == (a: Standings, b: Standings) -> Bool {
        a.ascending == b.ascending && a.sums == b.sums && a.contributions == b.contributions
    }
}

/// Only the contributions are stored, as parallel arrays (a few values each, where the
/// ranking, the entries and nested objects took about ten times the bytes and encoding
/// time); the ranking is rebuilt in one sort on decoding.
extension Standings: Codable {
    private enum CodingKeys: String, CodingKey {
        case ascending, sums, users, counts, workouts, values, at
        /// The format before 2026-11-27: nested objects, `{user: {workout: {value, at}}}`.
        case contributions
    }

    private struct StoredContribution: Decodable {
        let value: Double
        let at: Int64
    }

    public func encode(to encoder: any Encoder) throws {
        var users: [String] = []
        var counts: [Int] = []
        var workouts: [String] = []
        var values: [Double] = []
        var at: [Int64] = []
        users.reserveCapacity(contributions.count)
        for (user, mine) in contributions.sorted(by: { $0.key < $1.key }) {
            users.append(user)
            counts.append(mine.count)
            for (workout, contribution) in mine.sorted(by: { $0.key < $1.key }) {
                workouts.append(workout)
                values.append(contribution.value)
                at.append(contribution.at)
            }
        }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ascending, forKey: .ascending)
        try container.encode(sums, forKey: .sums)
        try container.encode(users, forKey: .users)
        try container.encode(counts, forKey: .counts)
        try container.encode(workouts, forKey: .workouts)
        try container.encode(values, forKey: .values)
        try container.encode(at, forKey: .at)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(ascending: try container.decode(Bool.self, forKey: .ascending), sums: try container.decode(Bool.self, forKey: .sums))
        if let nested = try container.decodeIfPresent([String: [String: StoredContribution]].self, forKey: .contributions) {
            contributions = nested.mapValues { $0.mapValues { Contribution(value: $0.value, at: $0.at) } }
            for (user, mine) in contributions { entries[user] = entry(of: user, mine) }
            rank()
            return
        }
        let users = try container.decode([String].self, forKey: .users)
        let counts = try container.decode([Int].self, forKey: .counts)
        let workouts = try container.decode([String].self, forKey: .workouts)
        let values = try container.decode([Double].self, forKey: .values)
        let at = try container.decode([Int64].self, forKey: .at)
        guard users.count == counts.count, counts.allSatisfy({ $0 > 0 }), counts.reduce(0, +) == workouts.count,
            values.count == workouts.count, at.count == workouts.count
        else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "standings arrays of unequal lengths"))
        }
        var next = 0
        for (user, count) in zip(users, counts) {
            var mine: [String: Contribution] = [:]
            for i in next..<next + count { mine[workouts[i]] = Contribution(value: values[i], at: at[i]) }
            next += count
            contributions[user] = mine
            entries[user] = entry(of: user, mine)
        }
        rank()
    }

    /// Ranks every entry at once, in full chunks.
    private mutating func rank() {
        let ranking = entries.values.sorted(by: precedes)
        chunks = stride(from: 0, to: ranking.count, by: Self.chunkSize).map { Array(ranking[$0..<min($0 + Self.chunkSize, ranking.count)]) }
        count = ranking.count
    }
}
