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
    /// Where each counted workout was entered, so that it leaves exactly those standings.
    private var placements: [String: [BoardKey]] = [:]

    public init() {}

    /// Records a profile; later workouts of the user are placed in its region's boards.
    public mutating func apply(profile body: JSONObject) {
        guard let user = body["user"]?.stringValue else { return }
        var profile = profiles[user] ?? Profile(region: nil, interests: [])
        if let region = body["region"]?.stringValue { profile.region = region }
        if let interests = body["interests"]?.arrayValue { profile.interests = interests.compactMap(\.stringValue) }
        profiles[user] = profile
    }

    /// Adds a workout, resolving duplicates, and updates every board it counts on.
    /// - Returns: the standings that changed.
    public mutating func apply(
        _ workout: Workout, boards: [LeaderboardSpec], priority: [String], timeZone: TimeZone
    ) -> Set<BoardKey> {
        let change = books[workout.user, default: WorkoutBook()].add(workout, priority: priority)
        var touched: Set<BoardKey> = []
        for gone in change.noLongerCounted {
            for key in placements.removeValue(forKey: gone.id) ?? [] {
                standings[key]?.set(user: gone.user, workout: gone.id, value: nil, at: gone.end)
                touched.insert(key)
            }
        }
        for counted in change.nowCounted {
            var keys: [BoardKey] = []
            for board in boards {
                guard let value = board.contribution(of: counted),
                    let scope = board.scopeKey(user: counted.user, region: profiles[counted.user]?.region)
                else { continue }
                let key = BoardKey(board: board.id, period: board.period.key(of: counted.start, in: timeZone), scope: scope)
                standings[key, default: Standings(ascending: board.ascending, sums: board.metric != .bestTime)]
                    .set(user: counted.user, workout: counted.id, value: value, at: counted.end)
                keys.append(key)
                touched.insert(key)
            }
            placements[counted.id] = keys
        }
        return touched
    }
}
