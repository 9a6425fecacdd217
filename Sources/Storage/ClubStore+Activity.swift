import Bonus
import ClubKernel
import ClubRuntime
import Foundation
import GRDB
import JSON
import Users

/// The activity log: the ordered, de-duplicated event queue of the Activity subsystem, and
/// the offsets of consumers that keep no state of their own here.
extension ClubStore {
    static func registerActivityTables(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-activity") { db in
            try db.execute(
                sql: """
                    CREATE TABLE activity (
                        "offset" INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        type TEXT NOT NULL,
                        user TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        received_at INTEGER NOT NULL,
                        body BLOB NOT NULL);
                    CREATE TABLE consumer_offset (
                        name TEXT PRIMARY KEY,
                        "offset" INTEGER NOT NULL);
                    """)
        }
        migrator.registerMigration("v3-consumer-state") { db in
            try db.execute(sql: "CREATE TABLE consumer_state (name TEXT PRIMARY KEY, state BLOB NOT NULL)")
        }
        migrator.registerMigration("v4-connections") { db in
            try db.execute(
                sql: """
                    CREATE TABLE connection (
                        user TEXT NOT NULL,
                        system TEXT NOT NULL,
                        active INTEGER NOT NULL,
                        "offset" INTEGER NOT NULL,
                        PRIMARY KEY (user, system)) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v5-gated") { db in
            // The log entries an admission gate decided, to rebuild it (a few of the log's).
            try db.execute(sql: #"CREATE TABLE gated_event ("offset" INTEGER PRIMARY KEY)"#)
        }
        migrator.registerMigration("v6-sender") { db in
            // Who sent each entry in security.mode curve (NULL in open mode and for raised events).
            try db.execute(sql: "ALTER TABLE activity ADD COLUMN sender TEXT")
        }
    }

    /// Makes a `submit` durable in one transaction: its telemetry in the journal and its
    /// other events in the activity log, where an id already present is a duplicate.
    /// - Returns: the journal entry (nil without telemetry) and what became of each event.
    public func appendSubmission(journal payload: [UInt8]?, events: [ActivityEvent], receivedAt: Int64) async throws -> (
        journalSeq: Int64?, appended: [AppendOutcome]
    ) {
        try await appending { db in
            var seq: Int64?
            if let payload {
                try db.execute(sql: "INSERT INTO journal (received_at, payload) VALUES (?, ?)", arguments: [receivedAt, Data(payload)])
                seq = db.lastInsertedRowID
            }
            let inserted = try self.insert(events, receivedAt: receivedAt, db)
            return ((seq, inserted.outcomes), inserted.committed)
        }
    }

    /// Runs `body` in a transaction of the log's writer; once it has committed — and only
    /// then — the new entries join the tail and the connections they changed take effect,
    /// still on the writer, so in commit order.
    ///
    /// Not GRDB's `afterNextTransaction`: when COMMIT itself fails (`SQLITE_FULL` on a full
    /// disk) that observer stays registered and fires at the next successful commit, which
    /// put entries that were never committed into the tail, and their consumers booked them.
    private func appending<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> (T, Committed)) async throws -> T {
        try await pool.writeWithoutTransaction { db in
            var result: (T, Committed)?
            if self.gateStale.withLock({ $0 }), let gate = self.gate {
                try Self.replay(into: gate, db)
                self.gateStale.withLock { $0 = false }
            }
            do {
                try db.inTransaction {
                    result = try body(db)
                    return .commit
                }
            } catch {
                // The gate may have admitted events of the transaction that did not commit.
                if self.gate != nil { self.gateStale.withLock { $0 = true } }
                throw error
            }
            guard let (value, committed) = result else { preconditionFailure("a committed transaction returns its result") }
            if !committed.records.isEmpty {
                self.tail.append(committed.records)
                self.connections.withLock { $0 = committed.connections }
            }
            return value
        }
    }

    /// What an append transaction adds to the log: its new entries and the connections after it.
    struct Committed {
        var records: [ActivityEvent]
        var connections: Connections
    }

    /// Appends events to the activity log (ingest: not acknowledged, so no journal).
    /// - Returns: what became of each event.
    public func appendActivity(_ events: [ActivityEvent], receivedAt: Int64) async throws -> [AppendOutcome] {
        guard !events.isEmpty else { return [] }
        return try await appending { db in
            let inserted = try self.insert(events, receivedAt: receivedAt, db)
            return (inserted.outcomes, inserted.committed)
        }
    }

    /// Deletes a user's workout events from `system` from the log and appends `notice` (an
    /// `imports.deleted` event telling the consumers to forget them), in one transaction.
    /// - Returns: how many workout events were deleted.
    public func forgetImports(user: String, system: String, notice: ActivityEvent, receivedAt: Int64) async throws -> Int {
        try await appending { db in
            try db.execute(
                sql: """
                    DELETE FROM activity WHERE user = ? AND type = 'workout'
                      AND lower(json_extract(CAST(body AS TEXT), '$.source')) = lower(?)
                    """, arguments: [user, system])
            let deleted = db.changesCount
            return (deleted, try self.insert([notice], receivedAt: receivedAt, db).committed)
        }
    }

    /// Inserts within the caller's transaction, in order, checking and applying consent.
    /// - Returns: what became of each event, and what joins the tail once the caller commits.
    private func insert(_ events: [ActivityEvent], receivedAt: Int64, _ db: Database) throws -> (
        outcomes: [AppendOutcome], committed: Committed
    ) {
        let statement = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO activity (id, type, user, at, received_at, body, sender) VALUES (?, ?, ?, ?, ?, ?, ?)")
        var consent = connections.withLock { $0 }
        var appended: [ActivityEvent] = []
        let outcomes = try events.map { e -> AppendOutcome in
            if let refusal = consent.refusal(of: e) { return refusal }
            let gate = self.gate.flatMap { $0.decides(e.type) ? $0 : nil }
            if let gate {
                // A repeated id is a duplicate, not a second decision (a retried submit).
                let seen = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM activity WHERE id = ?)", arguments: [e.id]) ?? false
                if seen { return .duplicate }
                if let refusal = gate.admit(e) { return .refused(refusal.reason, refusal.message) }
            }
            try statement.execute(arguments: [e.id, e.type, e.user, e.at, receivedAt, Data(e.json), e.sender])
            guard db.changesCount > 0 else { return .duplicate }
            let offset = db.lastInsertedRowID
            if gate != nil { try db.execute(sql: #"INSERT INTO gated_event ("offset") VALUES (?)"#, arguments: [offset]) }
            if case .connection(let system, let active) = e.consent {
                consent.set(user: e.user, system: system, active: active)
                try db.execute(
                    sql: #"INSERT OR REPLACE INTO connection (user, system, active, "offset") VALUES (?, ?, ?, ?)"#,
                    arguments: [e.user, system.lowercased(), active, offset])
            }
            appended.append(e.appended(at: offset))
            return .new
        }
        return (outcomes, Committed(records: appended, connections: consent))
    }

    /// Rebuilds `gate` from the log entries it admitted, in log order.
    static func replay(into gate: any AdmissionGate, _ db: Database) throws {
        gate.reset()
        let rows = try Row.fetchCursor(
            db,
            sql: #"""
                SELECT a."offset", a.id, a.type, a.user, a.at, a.body, a.sender FROM gated_event g
                JOIN activity a ON a."offset" = g."offset" ORDER BY g."offset"
                """#)
        while let row = try rows.next() {
            _ = gate.admit(Self.event(row))
        }
    }

    /// The connections recorded in the log, for the store's consent checks.
    static func loadConnections(_ db: Database) throws -> Connections {
        var connections = Connections()
        for row in try Row.fetchAll(db, sql: "SELECT user, system, active FROM connection") {
            connections.set(user: row[0], system: row[1], active: row[2])
        }
        return connections
    }

    /// Up to `limit` log entries after `offset`, in order: from the in-memory tail when it
    /// holds them, else from SQLite.
    public func activity(after offset: Int64, limit: Int) async throws -> [ActivityEvent] {
        if let recent = tail.read(after: offset, limit: limit) { return recent }
        return try await pool.read { db in
            try Row.fetchAll(
                db, sql: #"SELECT "offset", id, type, user, at, body, sender FROM activity WHERE "offset" > ? ORDER BY "offset" LIMIT ?"#,
                arguments: [offset, limit]
            ).map(Self.event)
        }
    }

    /// Up to `limit` entries after `offset` of `types`, from a stretch of at most
    /// ``ActivityTail/filteredStretch`` offsets: the tail's when it holds them, else SQLite's, where the
    /// other entries are passed over inside the query (never turned into events).
    public func activity(after offset: Int64, limit: Int, types: Set<String>) async throws -> ActivityBatch {
        if let recent = tail.read(after: offset, limit: limit, types: types, stretch: ActivityTail.filteredStretch) { return recent }
        // Read before the query: every entry up to it is committed, so the query sees them all.
        let end = min(tail.newest, offset + ActivityTail.filteredStretch)
        guard end > offset else { return ActivityBatch(records: [], through: offset) }
        let sorted = types.sorted()
        let sql =
            #"SELECT "offset", id, type, user, at, body, sender FROM activity WHERE "offset" > ? AND "offset" <= ? AND type IN ("#
            + Array(repeating: "?", count: sorted.count).joined(separator: ", ") + #") ORDER BY "offset" LIMIT ?"#
        let arguments: StatementArguments = [offset, end] + StatementArguments(sorted) + [limit]
        let records = try await pool.read { db in
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map(Self.event)
        }
        return ActivityBatch(records: records, through: records.count == limit ? records[records.count - 1].offset : end)
    }

    /// A log entry from a row of `"offset", id, type, user, at, body, sender` — columns by
    /// position: looking them up by name costs more than the rest of the read.
    static func event(_ row: Row) -> ActivityEvent {
        ActivityEvent(offset: row[0], id: row[1], type: row[2], user: row[3], at: row[4], json: [UInt8](row[5] as Data), sender: row[6])
    }

    /// The offset of the newest committed log entry (0 for an empty log).
    public var newestActivityOffset: Int64 { tail.newest }

    /// Where consumer `name` stopped: every entry up to it has taken effect.
    public func consumerOffset(_ name: String) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: #"SELECT "offset" FROM consumer_offset WHERE name = ?"#, arguments: [name]) ?? 0
        }
    }

    /// Moves a consumer that keeps no state of its own here.
    public func commitOffset(_ name: String, _ offset: Int64) async throws {
        try await pool.write { db in try Self.setOffset(name, offset, db) }
    }

    /// Commits a consumer's state together with its offset and appends `raising` to the log,
    /// in one transaction (on the log's writer, so the new entries join the tail in order).
    public func commitConsumer(_ name: String, offset: Int64, state: [UInt8], raising: [ActivityEvent]) async throws {
        let receivedAt = Clock.nowMillis()
        try await appending { db in
            try db.execute(sql: "INSERT OR REPLACE INTO consumer_state (name, state) VALUES (?, ?)", arguments: [name, Data(state)])
            try Self.setOffset(name, offset, db)
            let committed = raising.isEmpty
                ? Committed(records: [], connections: self.connections.withLock { $0 })
                : try self.insert(raising, receivedAt: receivedAt, db).committed
            return ((), committed)
        }
    }

    /// A consumer's last committed state and offset, or nil before its first commit.
    public func consumerState(_ name: String) async throws -> (offset: Int64, state: [UInt8])? {
        try await pool.read { db in
            guard let state = try Data.fetchOne(db, sql: "SELECT state FROM consumer_state WHERE name = ?", arguments: [name]) else {
                return nil
            }
            let offset = try Int64.fetchOne(db, sql: #"SELECT "offset" FROM consumer_offset WHERE name = ?"#, arguments: [name]) ?? 0
            return (offset, [UInt8](state))
        }
    }

    private static func setOffset(_ name: String, _ offset: Int64, _ db: Database) throws {
        try db.execute(sql: #"INSERT OR REPLACE INTO consumer_offset (name, "offset") VALUES (?, ?)"#, arguments: [name, offset])
    }

    /// Deletes log entries received before `cutoff` that the ledger, the offer stage and every
    /// named consumer have passed — except those an admission gate decided, which it replays
    /// to rebuild its state (groups, sessions and posts outlive the retention).
    /// - Returns: how many were deleted.
    public func pruneActivity(receivedBefore cutoff: Int64, consumers: [String]) async throws -> Int {
        let ledgerPosition = try await ledgerPosition()
        let offersPosition = try await offersPosition()
        return try await pool.write { db in
            var passed = min(ledgerPosition, offersPosition)
            for name in consumers {
                passed = min(passed, try Int64.fetchOne(db, sql: #"SELECT "offset" FROM consumer_offset WHERE name = ?"#, arguments: [name]) ?? 0)
            }
            try db.execute(
                sql: #"DELETE FROM activity WHERE received_at < ? AND "offset" <= ? AND "offset" NOT IN (SELECT "offset" FROM gated_event)"#,
                arguments: [cutoff, passed])
            return db.changesCount
        }
    }
}
