import ClubProtocol
import JSON
import Pipeline

/// The Training subsystem's query answered from its leaderboard index: `leaderboard` (also on
/// the command thread itself, see ``CommandHandler/handleAtOnce(request:)``). `workouts` is in
/// `CommandHandler+Imports.swift`, beside the import it lists.
extension CommandHandler {
    /// A board's top entries in a period (the current one unless `period` names another, such
    /// as `2026-W48`), and with `user` that user's own rank and value.
    func leaderboard(_ request: JSONObject) -> [UInt8] {
        var text: [String: String] = [:]
        for key in ["board", "period", "region", "user"] {
            guard let value = request[key] else { continue }
            guard let string = value.stringValue, !string.isEmpty else {
                return CommandError("wrong_type", "field '\(key)' must be a non-empty string, not \(value.typeName)").reply
            }
            text[key] = string
        }
        guard let board = text["board"] else { return CommandError("missing_field", "missing required field 'board'").reply }
        do {
            let members = try runtime.leaderboard(board: board, period: text["period"], scope: text["region"], user: text["user"])
            return ok { w in w.raw(members) }
        } catch {
            return CommandError(error.code, error.message).reply
        }
    }
}
