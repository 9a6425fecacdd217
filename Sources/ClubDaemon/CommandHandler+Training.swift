import ClubProtocol
import JSON
import Pipeline

/// The Training subsystem's query answered from its leaderboard index: `leaderboard` (also on
/// the command thread itself, see ``CommandHandler/handleAtOnce(request:)``). `workouts` is in
/// `CommandHandler+Imports.swift`, beside the import it lists.
extension CommandHandler {
    /// A board's top entries in a period (the current one unless `period` names another, such
    /// as `2026-W48`), and with `user` that user's own rank and value.
    func leaderboard(_ request: LeaderboardRequest) -> [UInt8] {
        do {
            return try runtime.leaderboard(board: request.board, period: request.period, scope: request.region, user: request.user).bytes
        } catch {
            return error.reply
        }
    }
}
