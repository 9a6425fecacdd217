import Foundation
import JSON

/// Everything the Training subsystem keeps: users' workouts with duplicate resolution, their
/// profiles (region, interests) and the standings of every leaderboard. Pure and
/// deterministic: the same events in the same order give the same state.
public struct TrainingState: Sendable, Equatable, Codable {
    public struct Profile: Sendable, Equatable, Codable {
        public var region: String?
        public var interests: [String]
    }

    /// Identifies the standings of one board in one period and scope.
    public struct BoardKey: Hashable, Sendable, Codable, Comparable {
        public let board: String
        public let period: String
        public let scope: String

        public init(board: String, period: String, scope: String) {
            self.board = board
            self.period = period
            self.scope = scope
        }

        public static func < (a: BoardKey, b: BoardKey) -> Bool { (a.board, a.period, a.scope) < (b.board, b.period, b.scope) }
    }

    public private(set) var books: [String: WorkoutBook] = [:]
    public private(set) var profiles: [String: Profile] = [:]
    public private(set) var standings: [BoardKey: Standings] = [:]
    /// Comparison cohorts by `sport|band|scope`.
    public private(set) var cohorts: [String: Cohort] = [:]
    /// Where each counted workout was entered, so that it leaves exactly those standings:
    /// the standings' contributions indexed by workout, rebuilt from them on decoding.
    private var placements: [String: Set<BoardKey>] = [:]

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case books, profiles, standings, cohorts
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        books = try container.decode([String: WorkoutBook].self, forKey: .books)
        profiles = try container.decode([String: Profile].self, forKey: .profiles)
        standings = try container.decode([BoardKey: Standings].self, forKey: .standings)
        cohorts = try container.decode([String: Cohort].self, forKey: .cohorts)
        for (key, board) in standings {
            for workout in board.workouts { placements[workout, default: []].insert(key) }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(books, forKey: .books)
        try container.encode(profiles, forKey: .profiles)
        try container.encode(standings, forKey: .standings)
        try container.encode(cohorts, forKey: .cohorts)
    }

    /// The highest heart rate the user's workouts reported, for heart-rate zones; the
    /// default when none did.
    public func maxHeartRate(of user: String) -> Double {
        let reported = books[user]?.workouts.compactMap(\.maxHeartRate).filter { $0 >= 100 && $0 <= 250 }.max()
        return reported ?? Targets.defaultMaxHeartRate
    }

    /// Records a profile; later workouts of the user are placed in its region's boards.
    public mutating func apply(profile body: JSONObject) {
        guard let user = body["user"]?.stringValue else { return }
        var profile = profiles[user] ?? Profile(region: nil, interests: [])
        if let region = body["region"]?.stringValue { profile.region = region }
        if let interests = body["interests"]?.arrayValue { profile.interests = interests.compactMap(\.stringValue) }
        profiles[user] = profile
    }

    /// What one workout changed.
    public struct Applied: Sendable, Equatable {
        public var boards: Set<BoardKey> = []
        /// Workouts that started counting, each compared with its cohort.
        public var comparisons: [Comparison] = []
        /// Workouts that started counting (one copy per activity), in order.
        public var counted: [Workout] = []
        /// Workouts that stopped counting (a better copy replaced them, or they were forgotten).
        public var uncounted: [Workout] = []
    }

    /// A user's region, from their profile.
    public func region(of user: String) -> String? { profiles[user]?.region }

    /// Adds a workout, resolving duplicates, and updates every board and cohort it counts in.
    /// - Parameter groups: the community groups a user is a member of (for `each_group` boards).
    public mutating func apply(_ workout: Workout, config: TrainingConfig, groups: (String) -> Set<String> = { _ in [] }) -> Applied {
        apply(books[workout.user, default: WorkoutBook()].add(workout, priority: config.sourcePriority), config: config, groups: groups)
    }

    /// Forgets a user's workouts imported from `system` (the user deleted imported data): they
    /// leave every board and cohort, and copies they hid may count instead.
    public mutating func forgetImports(user: String, system: String, config: TrainingConfig) -> Applied {
        guard books[user] != nil else { return Applied() }
        return apply(books[user]!.forgetImports(from: system, priority: config.sourcePriority), config: config)
    }

    private mutating func apply(_ change: WorkoutBook.Change, config: TrainingConfig, groups: (String) -> Set<String> = { _ in [] }) -> Applied {
        var applied = Applied()
        for gone in change.noLongerCounted {
            // Whatever cohort it joined (the user's region may have changed since).
            for key in cohorts.keys where key.hasPrefix("\(gone.sport)|") { cohorts[key]!.remove(workout: gone.id) }
        }
        applied.boards = place(change, boards: config.boards, calendar: config.calendar, groups: groups)
        applied.counted = change.nowCounted
        applied.uncounted = change.noLongerCounted
        for counted in change.nowCounted {
            if let comparison = compare(counted, config.comparisons) { applied.comparisons.append(comparison) }
        }
        return applied
    }

    private func cohortKey(_ workout: Workout, _ spec: ComparisonSpec) -> String? {
        guard let band = spec.band(of: workout.distance) else { return nil }
        return "\(workout.sport)|\(band.name)|\(scope(of: workout.user, spec))"
    }

    private func scope(of user: String, _ spec: ComparisonSpec) -> String {
        spec.byRegion ? profiles[user]?.region ?? "unknown" : "all"
    }

    /// Compares a workout that starts counting with its cohort over the rolling period before
    /// it, then adds it to the cohort.
    private mutating func compare(_ workout: Workout, _ spec: ComparisonSpec) -> Comparison? {
        guard let band = spec.band(of: workout.distance), let key = cohortKey(workout, spec) else { return nil }
        // In place: a copy taken out of the dictionary would copy the whole cohort on write.
        var cohort = cohorts.removeValue(forKey: key) ?? Cohort()
        defer { cohorts[key] = cohort }
        cohort.evict(before: (cohort.newestStart ?? workout.start) - spec.rollingMillis)
        let standing = cohort.standing(
            of: workout.durationMillis, user: workout.user, from: workout.start - spec.rollingMillis, to: workout.start,
            scanUpTo: spec.exactUpTo)
        let book = books[workout.user]!
        let personalBest = book.workouts.filter {
            $0.id != workout.id && book.counted.contains($0.id) && $0.sport == workout.sport && $0.start < workout.start
                && spec.band(of: $0.distance)?.name == band.name
        }.map(\.durationMillis).min()
        cohort.add(user: workout.user, workout: workout.id, millis: workout.durationMillis, start: workout.start)
        return Comparison(
            workout: workout, band: band.name, scope: scope(of: workout.user, spec), rank: standing.faster + 1,
            cohortSize: standing.others + 1,
            percentile: standing.others == 0 ? 100 : (Double(standing.slower) / Double(standing.others) * 1000).rounded() / 10,
            medianSeconds: standing.median.map { Double($0) / 1000 }, bestSeconds: standing.best.map { Double($0) / 1000 },
            exact: true, personalBestSeconds: personalBest.map { Double($0) / 1000 })
    }

    /// Moves workouts that stopped or started counting in and out of the boards' standings.
    private mutating func place(
        _ change: WorkoutBook.Change, boards: [LeaderboardSpec], calendar: Calendar, groups: (String) -> Set<String>
    ) -> Set<BoardKey> {
        var touched: Set<BoardKey> = []
        for gone in change.noLongerCounted {
            for key in placements.removeValue(forKey: gone.id) ?? [] {
                standings[key]?.set(user: gone.user, workout: gone.id, value: nil, at: gone.end)
                touched.insert(key)
            }
        }
        for counted in change.nowCounted {
            var keys: Set<BoardKey> = []
            for board in boards {
                guard let value = board.contribution(of: counted) else { continue }
                let memberOf = board.scope == .eachGroup ? groups(counted.user) : []
                for scope in board.scopeKeys(user: counted.user, region: profiles[counted.user]?.region, groups: memberOf) {
                    let key = BoardKey(board: board.id, period: board.period.key(of: counted.start, calendar: calendar), scope: scope)
                    standings[key, default: Standings(ascending: board.ascending, sums: board.metric != .bestTime)]
                        .set(user: counted.user, workout: counted.id, value: value, at: counted.end)
                    keys.insert(key)
                    touched.insert(key)
                }
            }
            if !keys.isEmpty { placements[counted.id] = keys }
        }
        return touched
    }
}
