import Histogram

/// The results of one comparison cohort (a sport, a distance band and a scope) over a
/// rolling period: workout durations, exact while the cohort is small, and summarized by
/// mergeable HdrHistograms (one per day, 0.1 % precision) once it is large.
public struct Cohort: Sendable, Equatable, Codable {
    struct Entry: Sendable, Equatable, Codable {
        let user: String
        let workout: String
        let millis: Int64
        let start: Int64
    }

    /// Ordered by start.
    private(set) var entries: [Entry] = []
    /// Per UTC day of the start: the durations recorded that day.
    private var days: [Int64: Histogram<UInt32>] = [:]

    public init() {}

    public static func == (a: Cohort, b: Cohort) -> Bool { a.entries == b.entries }

    // Only the entries are stored; the histograms follow from them.
    private enum CodingKeys: String, CodingKey { case entries }

    public init(from decoder: any Decoder) throws {
        entries = try decoder.container(keyedBy: CodingKeys.self).decode([Entry].self, forKey: .entries)
        for entry in entries { _ = days[Self.day(entry.start), default: Self.histogram()].record(UInt64(max(1, entry.millis))) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .entries)
    }

    mutating func add(user: String, workout: String, millis: Int64, start: Int64) {
        let entry = Entry(user: user, workout: workout, millis: millis, start: start)
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].start <= start { low = mid + 1 } else { high = mid }
        }
        entries.insert(entry, at: low)
        _ = days[Self.day(start), default: Self.histogram()].record(UInt64(max(1, millis)))
    }

    mutating func remove(workout: String) {
        guard let index = entries.firstIndex(where: { $0.workout == workout }) else { return }
        let entry = entries.remove(at: index)
        rebuild(day: Self.day(entry.start))
    }

    /// Forgets results that started before `cutoff`.
    mutating func evict(before cutoff: Int64) {
        let old = entries.prefix { $0.start < cutoff }.count
        guard old > 0 else { return }
        entries.removeFirst(old)
        let firstDay = Self.day(cutoff)
        for day in days.keys where day < firstDay { days[day] = nil }
        rebuild(day: firstDay)
    }

    private mutating func rebuild(day: Int64) {
        var histogram = Self.histogram()
        for entry in entries where Self.day(entry.start) == day { _ = histogram.record(UInt64(max(1, entry.millis))) }
        days[day] = histogram.totalCount == 0 ? nil : histogram
    }

    /// Where `millis` stands among the results of users other than `user` that started in
    /// [`from`, `to`]. Counts and the best result are exact; the median is exact up to
    /// `exactUpTo` results and read from the merged daily histograms beyond (0.1 %).
    func standing(of millis: Int64, user: String, from: Int64, to: Int64, exactUpTo: Int) -> Standing {
        let window = entries[firstIndex(startingAtOrAfter: from)..<firstIndex(startingAtOrAfter: to + 1)]
        var faster = 0
        var slower = 0
        var others: [Int64] = []
        others.reserveCapacity(min(window.count, exactUpTo + 1))
        var count = 0
        var best: Int64?
        for entry in window where entry.user != user {
            count += 1
            if entry.millis < millis { faster += 1 } else if entry.millis > millis { slower += 1 }
            best = min(best ?? entry.millis, entry.millis)
            if count <= exactUpTo { others.append(entry.millis) }
        }
        let median: Int64?
        if count == 0 {
            median = nil
        } else if count <= exactUpTo {
            median = Self.median(others.sorted())
        } else {
            var merged = Self.histogram()
            for (day, histogram) in days where day >= Self.day(from) && day <= Self.day(to) { merged.add(histogram) }
            median = Int64(merged.median)
        }
        return Standing(faster: faster, slower: slower, others: count, median: median, best: best, exact: count <= exactUpTo)
    }

    private func firstIndex(startingAtOrAfter time: Int64) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].start < time { low = mid + 1 } else { high = mid }
        }
        return low
    }

    struct Standing: Equatable {
        let faster: Int
        let slower: Int
        let others: Int
        let median: Int64?
        let best: Int64?
        let exact: Bool
    }

    static func median(_ sorted: [Int64]) -> Int64 {
        sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func day(_ millis: Int64) -> Int64 { millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000 }

    static func histogram() -> Histogram<UInt32> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 7 * 86_400_000, numberOfSignificantValueDigits: .three)
    }
}
