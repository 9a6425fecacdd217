import Bonus
import ClubProtocol
import JSON

/// The Bonus subsystem's ops: `balance` and `ledger`.
extension CommandHandler {
    func balance(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        return BalanceReply(user: user, points: await runtime.balance(of: user)).bytes
    }

    /// The user's ledger, oldest first (the newest `limit` entries, default 1000).
    func ledger(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        var limit = 1000
        if let value = request["limit"] {
            guard let n = value.int64Value, n >= 1, n <= 100_000 else {
                return CommandError("wrong_type", "field 'limit' must be an integer in 1...100000").reply
            }
            limit = Int(n)
        }
        let entries: [LedgerEntry]
        do {
            entries = try await store.ledger(user: user, limit: limit)
        } catch {
            return CommandError("storage_failed", "cannot read the ledger: \(error)").reply
        }
        return LedgerReply(
            user: user,
            entries: entries.map {
                .init(event: $0.event, points: $0.points, rule: $0.rule, at: Int($0.at), kind: $0.kind.rawValue, balance: $0.balance)
            }
        ).bytes
    }
}
