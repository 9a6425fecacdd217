import Bonus
import ClubRuntime

/// What the bonus stage needs of storage: the activity log, and the ledger with the accounts
/// and the log position it reflects, committed together. `ClubStore` (Storage) implements it on SQLite;
/// tests use an in-memory one.
public protocol BonusStore: ActivityLogReading {
    /// The log offset up to which the ledger reflects every event.
    func ledgerPosition() async throws -> Int64
    /// Every stored account: its serialized state and its lots in award order.
    func bonusAccounts() async throws -> [String: (state: [UInt8], lots: [BonusAccount.Lot])]
    /// Ledger entries, changed accounts, their lot changes and the log position, atomically.
    func commitBonus(
        position: Int64, entries: [LedgerEntry], accounts: [String: [UInt8]],
        lotChanges: [(user: String, change: BonusAccount.LotChange)]
    ) async throws
}

