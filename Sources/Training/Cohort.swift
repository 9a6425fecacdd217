/// The results of one comparison cohort (a sport, a distance band and a scope) over a
/// rolling period: workout durations ordered by start, and the same durations in a sorted
/// multiset, so that ranks, bests and medians are exact and cost O(log n + n/512) however
/// large the cohort.
public struct Cohort: Sendable, Equatable {
    struct Entry: Sendable, Equatable, Codable {
        let user: String
        let workout: String
        let millis: Int64
        let start: Int64
    }

    /// Ordered by start; those before `head` are evicted (dropped in bulk now and then, so
    /// that evicting one entry does not move all the others).
    private var stored: [Entry] = []
    private var head = 0
    /// The durations of the entries from `head` on.
    private var values = SortedValues()
    /// Per user, their entries from `head` on (few per user and cohort).
    private var byUser: [String: [Entry]] = [:]

    public init() {}

    /// The entries kept, ordered by start.
    var entries: ArraySlice<Entry> { stored[head...] }

    /// The newest start in the cohort.
    var newestStart: Int64? { head < stored.count ? stored.last?.start : nil }

    public static func == (a: Cohort, b: Cohort) -> Bool { a.entries == b.entries }

    mutating func add(user: String, workout: String, millis: Int64, start: Int64) {
        let entry = Entry(user: user, workout: workout, millis: millis, start: start)
        stored.insert(entry, at: firstIndex(startingAtOrAfter: start + 1))
        values.insert(millis)
        byUser[user, default: []].append(entry)
    }

    mutating func remove(workout: String) {
        guard let index = stored[head...].firstIndex(where: { $0.workout == workout }) else { return }
        forget(stored.remove(at: index))
    }

    private mutating func forget(_ entry: Entry) {
        values.remove(entry.millis)
        byUser[entry.user]?.removeAll { $0.workout == entry.workout }
        if byUser[entry.user]?.isEmpty == true { byUser[entry.user] = nil }
    }

    /// Forgets results that started before `cutoff`.
    mutating func evict(before cutoff: Int64) {
        let end = firstIndex(startingAtOrAfter: cutoff)
        guard end > head else { return }
        for entry in stored[head..<end] { forget(entry) }
        head = end
        if head > 1024 && head * 2 > stored.count {
            stored.removeFirst(head)
            head = 0
        }
    }

    /// Where `millis` stands among the results of users other than `user` that started in
    /// [`from`, `to`], exactly.
    ///
    /// A window of up to `scanUpTo` results is scanned. A larger one is counted from the
    /// sorted durations of the whole cohort, less those outside the window (entries that
    /// started before `from` or after `to`: few, unless the workout is a late import — then
    /// the window is scanned) and less the user's own.
    func standing(of millis: Int64, user: String, from: Int64, to: Int64, scanUpTo: Int) -> Standing {
        let lower = firstIndex(startingAtOrAfter: from)
        let upper = firstIndex(startingAtOrAfter: to + 1)
        let window = upper - lower
        let outside = (stored.count - head) - window
        if window - (byUser[user]?.count ?? 0) <= scanUpTo || outside > window { return scan(stored[lower..<upper], millis, user) }
        // The durations left out, sorted: read by index, so that no entry (and its strings) is copied.
        var left: [Int64] = []
        left.reserveCapacity(outside + 4)
        for i in head..<lower { left.append(stored[i].millis) }
        for i in upper..<stored.count { left.append(stored[i].millis) }
        for entry in byUser[user] ?? [] where entry.start >= from && entry.start <= to { left.append(entry.millis) }
        left.sort()
        let leftBelow = Self.count(left, upTo: millis - 1)
        let leftAbove = left.count - Self.count(left, upTo: millis)
        let faster = values.count(below: millis) - leftBelow
        let slower = values.count(above: millis) - leftAbove
        let count = values.count - left.count
        let best = count == 0 ? nil : select(0, skipping: left)
        let median = count == 0 ? nil : (select((count - 1) / 2, skipping: left) + select(count / 2, skipping: left)) / 2
        return Standing(faster: faster, slower: slower, others: count, median: median, best: best)
    }

    /// The `k`-th smallest (0-based) of the cohort's durations once the values `skipped`
    /// (sorted, each one of them) are taken out: the `k + m`-th of all, where `m` counts the
    /// skipped values up to it — found by iterating to the fixed point (few steps: `m` only grows).
    private func select(_ k: Int, skipping skipped: [Int64]) -> Int64 {
        var m = 0
        while true {
            let value = values.element(at: k + m)
            let below = Self.count(skipped, upTo: value)
            if below == m { return value }
            m = below
        }
    }

    /// How many of the sorted `values` are ≤ `value`.
    private static func count(_ values: [Int64], upTo value: Int64) -> Int {
        var low = 0
        var high = values.count
        while low < high {
            let mid = (low + high) / 2
            if values[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The standing by looking at every entry of the window.
    private func scan(_ window: ArraySlice<Entry>, _ millis: Int64, _ user: String) -> Standing {
        var faster = 0
        var slower = 0
        var others: [Int64] = []
        others.reserveCapacity(window.count)
        var best: Int64?
        for entry in window where entry.user != user {
            if entry.millis < millis { faster += 1 } else if entry.millis > millis { slower += 1 }
            best = min(best ?? entry.millis, entry.millis)
            others.append(entry.millis)
        }
        let median = others.isEmpty ? nil : Self.median(others.sorted())
        return Standing(faster: faster, slower: slower, others: others.count, median: median, best: best)
    }

    /// The first index of `stored` (from `head`) whose entry starts at or after `time`.
    private func firstIndex(startingAtOrAfter time: Int64) -> Int {
        var low = head
        var high = stored.count
        while low < high {
            let mid = (low + high) / 2
            if stored[mid].start < time { low = mid + 1 } else { high = mid }
        }
        return low
    }

    struct Standing: Equatable {
        let faster: Int
        let slower: Int
        let others: Int
        let median: Int64?
        let best: Int64?
    }

    static func median(_ sorted: [Int64]) -> Int64 {
        sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}

// Only the entries are stored; the sorted durations and the users' index
// follow from them.
extension Cohort: Codable {
    private enum CodingKeys: String, CodingKey { case entries }

    public init(from decoder: any Decoder) throws {
        self.init()
        for entry in try decoder.container(keyedBy: CodingKeys.self).decode([Entry].self, forKey: .entries) {
            add(user: entry.user, workout: entry.workout, millis: entry.millis, start: entry.start)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Array(entries), forKey: .entries)
    }
}
