import Bonus
import Foundation
import GRDB

/// The points ledger, in its own SQLite file: the bonus stage's commits never wait behind
/// `submit` for the activity log's writer, nor the other way round. It records the activity
/// log position it reflects in the same transaction as its entries.
extension ClubStore {
    static var ledgerMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-ledger") { db in
            try db.execute(
                sql: """
                    CREATE TABLE ledger_position (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        "offset" INTEGER NOT NULL);
                    CREATE TABLE ledger (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        user TEXT NOT NULL,
                        event TEXT NOT NULL,
                        rule TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        points INTEGER NOT NULL,
                        at INTEGER NOT NULL,
                        balance INTEGER NOT NULL);
                    CREATE INDEX ledger_by_user ON ledger (user, seq);
                    CREATE TABLE bonus_account (
                        user TEXT PRIMARY KEY,
                        state BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE bonus_lot (
                        id INTEGER PRIMARY KEY,
                        user TEXT NOT NULL,
                        event TEXT NOT NULL,
                        rule TEXT NOT NULL,
                        remaining INTEGER NOT NULL,
                        expires_at INTEGER NOT NULL,
                        UNIQUE (user, event, rule));
                    """)
        }
        return migrator
    }

    /// The activity log offset up to which the ledger reflects every event.
    public func ledgerPosition() async throws -> Int64 {
        try await ledgerPool.read { db in
            try Int64.fetchOne(db, sql: #"SELECT "offset" FROM ledger_position WHERE id = 1"#) ?? 0
        }
    }

    /// Commits the bonus stage's work atomically: ledger entries, changed accounts, their lot
    /// changes and the log position they reflect, so that after a crash every event has taken
    /// effect exactly once.
    public func commitBonus(
        position: Int64, entries: [LedgerEntry], accounts: [String: [UInt8]],
        lotChanges: [(user: String, change: BonusAccount.LotChange)]
    ) async throws {
        try await ledgerPool.write { db in
            let insert = try db.cachedStatement(
                sql: "INSERT INTO ledger (user, event, rule, kind, points, at, balance) VALUES (?, ?, ?, ?, ?, ?, ?)")
            for e in entries {
                try insert.execute(arguments: [e.user, e.event, e.rule, e.kind.rawValue, e.points, e.at, e.balance])
            }
            let save = try db.cachedStatement(sql: "INSERT OR REPLACE INTO bonus_account (user, state) VALUES (?, ?)")
            for (user, state) in accounts { try save.execute(arguments: [user, Data(state)]) }
            let write = try db.cachedStatement(
                sql: """
                    INSERT INTO bonus_lot (user, event, rule, remaining, expires_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (user, event, rule) DO UPDATE SET remaining = excluded.remaining
                    """)
            let delete = try db.cachedStatement(sql: "DELETE FROM bonus_lot WHERE user = ? AND event = ? AND rule = ?")
            for (user, change) in lotChanges {
                switch change {
                case .write(let lot): try write.execute(arguments: [user, lot.event, lot.rule, lot.remaining, lot.expiresAt])
                case .delete(let event, let rule): try delete.execute(arguments: [user, event, rule])
                }
            }
            try db.execute(sql: "INSERT OR REPLACE INTO ledger_position (id, \"offset\") VALUES (1, ?)", arguments: [position])
        }
    }

    /// Every stored bonus account: its serialized state and its lots in award order.
    public func bonusAccounts() async throws -> [String: (state: [UInt8], lots: [BonusAccount.Lot])] {
        try await ledgerPool.read { db in
            var lots: [String: [BonusAccount.Lot]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT user, event, rule, remaining, expires_at FROM bonus_lot ORDER BY id") {
                lots[row["user"], default: []].append(
                    BonusAccount.Lot(event: row["event"], rule: row["rule"], remaining: row["remaining"], expiresAt: row["expires_at"]))
            }
            var result: [String: (state: [UInt8], lots: [BonusAccount.Lot])] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT user, state FROM bonus_account") {
                let user: String = row["user"]
                result[user] = ([UInt8](row["state"] as Data), lots[user] ?? [])
            }
            return result
        }
    }

    /// The newest `limit` ledger entries of `user`, oldest first.
    /// Ledger entries of every user after `after` (their `seq`), in booking order, at most
    /// `limit`: the feed a consumer that delivers them elsewhere reads (the shop adapter).
    public func ledgerChanges(after: Int64, limit: Int) async throws -> [(seq: Int64, entry: LedgerEntry)] {
        try await ledgerPool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT seq, user, event, rule, kind, points, at, balance FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [after, limit]
            ).map {
                (
                    $0[0],
                    LedgerEntry(
                        user: $0[1], event: $0[2], rule: $0[3], kind: LedgerEntry.Kind(rawValue: $0[4]) ?? .award, points: $0[5], at: $0[6],
                        balance: $0[7])
                )
            }
        }
    }

    public func ledger(user: String, limit: Int = 1000) async throws -> [LedgerEntry] {
        try await ledgerPool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM (SELECT * FROM ledger WHERE user = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                arguments: [user, limit]
            ).map {
                LedgerEntry(
                    user: user, event: $0["event"], rule: $0["rule"], kind: LedgerEntry.Kind(rawValue: $0["kind"]) ?? .award,
                    points: $0["points"], at: $0["at"], balance: $0["balance"])
            }
        }
    }
}
