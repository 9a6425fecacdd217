/// One leaderboard, as declared in a `Pipelines/*.yaml` file.
public struct LeaderboardSpec: Sendable, Equatable, Codable {
    public enum Metric: String, Sendable, Codable, CaseIterable {
        /// Metres of the counted workouts.
        case distance
        /// Seconds of the counted workouts.
        case duration
        /// Seconds in motion.
        case movingTime = "moving_time"
        /// Number of counted workouts.
        case workouts
        /// Metres climbed.
        case elevationGain = "elevation_gain"
        /// The shortest duration of a workout whose distance lies in the band: lower ranks higher.
        case bestTime = "best_time"
    }

    public enum Scope: Sendable, Equatable, Codable {
        case everyone
        /// Users whose profile is in this region.
        case region(String)
        /// One board per region.
        case eachRegion
        /// A fixed list of users.
        case users(Set<String>)
        /// One board per community group, ranking its members (`each_group`).
        case eachGroup
    }

    public let id: String
    public let metric: Metric
    public let period: Period
    public let scope: Scope
    /// Only workouts of this sport, when set.
    public let sport: String?
    /// For `best_time`: the distance band in metres, `[min, max)`.
    public let band: ClosedRange<Double>?
    /// Entries published and returned.
    public let size: Int

    public init(
        id: String, metric: Metric, period: Period, scope: Scope = .everyone, sport: String? = nil, band: ClosedRange<Double>? = nil,
        size: Int = 100
    ) {
        self.id = id
        self.metric = metric
        self.period = period
        self.scope = scope
        self.sport = sport
        self.band = band
        self.size = size
    }

    /// Lower values rank higher.
    public var ascending: Bool { metric == .bestTime }

    /// What `workout` adds to this board, or nil when it does not belong on it.
    func contribution(of workout: Workout) -> Double? {
        if let sport, workout.sport != sport { return nil }
        return metric.value(of: workout, band: band)
    }

    /// The scope keys a user's workout falls in: none when the user is outside the scope,
    /// one per group they are a member of for `each_group`.
    func scopeKeys(user: String, region: String?, groups: Set<String>) -> [String] {
        switch scope {
        case .everyone: return ["all"]
        case .region(let wanted): return region == wanted ? [wanted] : []
        case .eachRegion: return [region ?? "unknown"]
        case .users(let members): return members.contains(user) ? ["members"] : []
        case .eachGroup: return groups.sorted()
        }
    }
}

extension Period: Codable {}

extension LeaderboardSpec.Metric {
    /// What `workout` is worth by this metric; for `best_time`, its duration when its distance
    /// lies in `band`, else nil.
    func value(of workout: Workout, band: ClosedRange<Double>?) -> Double? {
        switch self {
        case .distance: return workout.distance
        case .duration: return Double(workout.durationMillis) / 1000
        case .movingTime: return Double(workout.movingMillis) / 1000
        case .workouts: return 1
        case .elevationGain: return workout.elevationGain
        case .bestTime:
            guard let band, band.contains(workout.distance) else { return nil }
            return Double(workout.durationMillis) / 1000
        }
    }
}
