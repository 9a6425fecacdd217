import Bonus
import ClubProtocol
import JSON

/// The Bonus subsystem's ops: `balance` and `ledger`.
extension CommandHandler {
    func balance(_ request: BalanceRequest) async -> [UInt8] {
        BalanceReply(user: request.user, points: await runtime.balance(of: request.user)).bytes
    }

    /// The user's ledger, oldest first (the newest `limit` entries, default 1000).
    func ledger(_ request: LedgerRequest) async -> [UInt8] {
        let user = request.user
        let entries: [LedgerEntry]
        do {
            entries = try await store.ledger(user: user, limit: request.limit)
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
