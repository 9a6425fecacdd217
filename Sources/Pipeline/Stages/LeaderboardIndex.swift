import ClubProtocol
import ClubRuntime
import Foundation
import JSON
import Synchronization
import Training

/// The leaderboards as of the training stage's last refresh (at most a second old),
/// readable from any thread: `leaderboard` queries are answered from here, without waiting
/// for the stage, which may be busy applying a burst of workouts.
///
/// Queries run under the lock, so they never hold the last reference to a replaced share:
/// freeing one (large boards) is left to the training stage's thread.
final class LeaderboardIndex: Sendable {
    private let current: Mutex<(config: TrainingConfig, standings: [TrainingState.BoardKey: Standings])>

    init(config: TrainingConfig) {
        current = Mutex((config, [:]))
    }

    /// Publishes the stage's current standings (a copy-on-write share, not a copy).
    /// - Returns: the replaced share, for the caller to release outside the lock.
    @discardableResult
    func update(config: TrainingConfig, standings: [TrainingState.BoardKey: Standings]) -> Any {
        current.withLock { current in
            let old = current
            current = (config, standings)
            return old
        }
    }

    /// The reply to a `leaderboard` query: the top N of the board in the period (the current
    /// one by default) and scope, and `user`'s own line when asked.
    func query(board: String, period: String?, scope: String?, user: String?) throws(CommandError) -> LeaderboardReply {
        try current.withLock { current throws(CommandError) in
            try Self.answer(current.config, current.standings, board: board, period: period, scope: scope, user: user)
        }
    }

    private static func answer(
        _ config: TrainingConfig, _ all: [TrainingState.BoardKey: Standings], board: String, period: String?, scope: String?,
        user: String?
    ) throws(CommandError) -> LeaderboardReply {
        guard let spec = config.boards.first(where: { $0.id == board }) else {
            throw CommandError("unknown_board", "no leaderboard '\(board)'; declared: \(config.boards.map(\.id).joined(separator: ", "))")
        }
        let periodKey = period ?? spec.period.key(of: Clock.nowMillis(), calendar: config.calendar)
        let scopeKey: String
        switch spec.scope {
        case .everyone: scopeKey = "all"
        case .region(let region): scopeKey = region
        case .users: scopeKey = "members"
        case .eachRegion:
            guard let scope else { throw CommandError("missing_field", "board '\(board)' has one ranking per region: give 'region'") }
            scopeKey = scope
        case .eachGroup:
            guard let scope else { throw CommandError("missing_field", "board '\(board)' has one ranking per group: give 'group'") }
            scopeKey = scope
        }
        let key = TrainingState.BoardKey(board: board, period: periodKey, scope: scopeKey)
        let standings = all[key] ?? Standings(ascending: spec.ascending, sums: spec.metric != .bestTime)
        var reply = TrainingStage.board(spec, key, standings)
        if let user {
            reply.own = standings.rank(of: user).map { .ranked(.init(rank: $0.rank, user: user, value: TrainingStage.published($0.entry.value))) }
                ?? .unranked
        }
        return reply
    }
}
