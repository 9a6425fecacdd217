import Bonus
import ClubProtocol
import JSON

/// The Bonus subsystem's ops: `balance`, `ledger` and `ledger.changes`.
extension CommandHandler {
    /// Every user's ledger entries after a feed position, for a consumer that delivers them.
    func ledgerChanges(_ request: LedgerChangesRequest) async -> [UInt8] {
        do {
            let changes = try await store.ledgerChanges(after: request.after, limit: request.limit)
            return LedgerChangesReply(
                entries: changes.map {
                    .init(
                        seq: $0.seq, user: $0.entry.user, event: $0.entry.event, rule: $0.entry.rule, kind: $0.entry.kind.rawValue,
                        points: $0.entry.points, at: $0.entry.at, balance: $0.entry.balance)
                }, next: changes.last?.seq ?? request.after
            ).bytes
        } catch {
            return CommandError("storage_failed", "cannot read the ledger: \(error)").reply
        }
    }

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
