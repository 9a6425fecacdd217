import ClubKernel
import JSON

/// A competition among members (the contract's `competition.created`): a goal over counted
/// workouts that start between `start` and `end`, in a scope, with prizes for ranks. Final once
/// the clock passes `end + grace`; nothing changes it after that.
public struct Competition: Codable, Sendable, Equatable {
    public enum Scope: Codable, Sendable, Equatable {
        /// Everyone who entered (`competition.joined`).
        case everyone
        /// The members of a group.
        case group(String)
        /// Users whose profile is in a region.
        case region(String)
    }

    public enum Goal: String, Codable, Sendable, CaseIterable {
        /// The sum of a metric.
        case total
        /// The best time over a distance band (lower ranks higher).
        case fastest
        /// The largest single activity by a metric.
        case longest
        /// A group target: everyone's sum against `target`; entries rank contributions.
        case shared
    }

    public struct Prize: Codable, Sendable, Equatable {
        public var ranks: ClosedRange<Int>
        public var points: Int
    }

    public var id: String
    public var title: String
    /// Who created it (the `user` of its finish event).
    public var creator: String
    public var scope: Scope
    public var goal: Goal
    public var metric: LeaderboardSpec.Metric
    public var band: ClosedRange<Double>?
    public var sport: String?
    public var target: Double?
    public var start: Int64
    public var end: Int64
    public var graceMillis: Int64
    public var prizes: [Prize]
    public var entrants: Set<String> = []
    public var standings: Standings
    public var final = false

    /// When the result becomes final.
    public var finalAt: Int64 { end + graceMillis }

    /// `shared`: the sum of every entry's value.
    public var progress: Double? { goal == .shared ? standings.ranking.reduce(0) { $0 + $1.value } : nil }

    /// The points of `rank`, if a prize covers it.
    public func prize(rank: Int) -> Int? { prizes.first { $0.ranks.contains(rank) }?.points }

    /// Reads a `competition.created` event (checked at the door).
    public init?(_ event: ActivityEvent) {
        let b = event.body
        guard let id = b["competition"]?.stringValue, let goal = b["goal"]?.stringValue.flatMap(Goal.init(rawValue:)),
            let start = b["start"].flatMap(EventTime.millis), let end = b["end"].flatMap(EventTime.millis)
        else { return nil }
        let metric: LeaderboardSpec.Metric
        if goal == .fastest {
            metric = .bestTime
        } else {
            guard let named = b["metric"]?.stringValue.flatMap(LeaderboardSpec.Metric.init(rawValue:)), named != .bestTime else { return nil }
            metric = named
        }
        switch b["scope"] {
        case .string("everyone")?, nil: scope = .everyone
        case .object(let o)?:
            if let group = o["group"]?.stringValue {
                scope = .group(group)
            } else if let region = o["region"]?.stringValue {
                scope = .region(region)
            } else {
                return nil
            }
        default: return nil
        }
        if let band = b["band"]?.arrayValue, band.count == 2, let low = band[0].doubleValue, let high = band[1].doubleValue, low <= high {
            self.band = low...high
        } else {
            self.band = nil
        }
        self.id = id
        title = b["title"]?.stringValue ?? id
        creator = event.user
        self.goal = goal
        self.metric = metric
        sport = b["sport"]?.stringValue
        target = b["target"]?.doubleValue
        self.start = start
        self.end = end
        graceMillis = Int64((b["grace_s"]?.doubleValue ?? 3600) * 1000)
        prizes = (b["prizes"]?.arrayValue ?? []).compactMap { p in
            guard let r = p["ranks"]?.arrayValue, r.count == 2, let from = r[0].int64Value, let to = r[1].int64Value, from >= 1, from <= to,
                let points = p["points"]?.int64Value
            else { return nil }
            return Prize(ranks: Int(from)...Int(to), points: Int(points))
        }
        standings = Standings(ascending: goal == .fastest, sums: goal == .total || goal == .shared)
    }

    /// What `workout` adds, or nil when it does not count here (sport, band, time).
    func contribution(of workout: Workout) -> Double? {
        guard !final, workout.start >= start, workout.start < end else { return nil }
        if let sport, workout.sport != sport { return nil }
        return metric.value(of: workout, band: band)
    }
}
