import ClubKernel
import ClubRuntime
import Foundation
import GRDB
import Synchronization
import Telemetry
import Users

/// The daemon's SQLite databases (WAL): the journal of acknowledged telemetry, snapshots of
/// pipeline state, the history of closed windows and the Activity subsystem's event log in
/// the main file; the points ledger and bonus accounts in a second file beside it, and the
/// issued offers in a third: each consumer with its own file commits without waiting for the
/// others' writers.
///
/// Durability: `synchronous = FULL` in WAL mode, so a commit returns only after the WAL
/// is fsynced; an acknowledged `submit` survives `kill -9` and power loss.
public final class ClubStore: Sendable {
    let pool: DatabasePool
    /// The points ledger, beside the main file (`clubd-ledger.sqlite` for `clubd.sqlite`).
    let ledgerPool: DatabasePool
    /// Issued offers and what the offer stage knows of users (`clubd-offers.sqlite`).
    let offersPool: DatabasePool
    /// The newest activity log entries, for its consumers.
    let tail: ActivityTail
    /// The users' active connections to external systems, as the log has them.
    let connections: Mutex<Connections>
    /// Decides, in log order, the events whose admission depends on the log (the community's
    /// groups, sessions and posts); nil: every event is admitted.
    let gate: (any AdmissionGate)?
    /// A transaction that consulted the gate did not commit: the gate must be rebuilt from the
    /// log before it decides again.
    let gateStale = Mutex(false)
    /// Checkpoints the three files in the background: commits do not pay for them.
    private let checkpointer: WALCheckpointer
    /// Page cache of the main file's writer connection, KiB (readers and the ledger's and offers'
    /// files keep SQLite's 2 MiB): where snapshots write.
    static let writerCacheKiB = 12_288

    /// Opens (creating if needed) the database at `path` and the ledger and offers files
    /// beside it, and migrates them.
    /// - Parameter tailCapacity: newest activity log entries kept in memory for its consumers.
    /// - Parameter gate: decides, in log order, the events whose admission depends on those
    ///   admitted before (rebuilt here from the events it admitted).
    public init(path: String, tailCapacity: Int = 20_000, gate: (any AdmissionGate)? = nil) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Checkpoints run in the background (WALCheckpointer); a commit runs one only as a backstop.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.backstopPages)")
        }
        configuration.busyMode = .timeout(5)
        var mainConfiguration = configuration
        mainConfiguration.prepareDatabase { db in
            // The main file's writer keeps 12 MiB of pages (SQLite's default: 2 MiB): a snapshot
            // that changes a thousand users' entries dirties ~3,000 pages, which then stay in memory
            // until the commit instead of spilling into the WAL halfway (30–40 ms instead of 60–100).
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)") }
        }
        pool = try DatabasePool(path: path, configuration: mainConfiguration)
        try Self.migrator.migrate(pool)
        let newest = try pool.read { db in try Int64.fetchOne(db, sql: #"SELECT MAX("offset") FROM activity"#) ?? 0 }
        tail = ActivityTail(nextOffset: newest + 1, capacity: tailCapacity)
        connections = Mutex(try pool.read(Self.loadConnections))
        self.gate = gate
        if let gate { try pool.read { db in try Self.replay(into: gate, db) } }
        ledgerPool = try DatabasePool(path: Self.ledgerPath(besides: path), configuration: configuration)
        try Self.ledgerMigrator.migrate(ledgerPool)
        offersPool = try DatabasePool(path: Self.offersPath(besides: path), configuration: configuration)
        try Self.offersMigrator.migrate(offersPool)
        checkpointer = try WALCheckpointer(paths: [path, Self.ledgerPath(besides: path), Self.offersPath(besides: path)])
    }

    /// `dir/clubd.sqlite` → `dir/clubd-ledger.sqlite`.
    public static func ledgerPath(besides path: String) -> String { siblingPath(besides: path, part: "ledger") }

    /// `dir/clubd.sqlite` → `dir/clubd-offers.sqlite`.
    public static func offersPath(besides path: String) -> String { siblingPath(besides: path, part: "offers") }

    /// `dir/clubd.sqlite` → `dir/clubd-<part>.sqlite`.
    static func siblingPath(besides path: String, part: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingPathExtension().path + "-\(part)." + (url.pathExtension.isEmpty ? "sqlite" : url.pathExtension)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE journal (
                        seq INTEGER PRIMARY KEY,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL);
                    CREATE TABLE snapshot_part (
                        name TEXT PRIMARY KEY,
                        state BLOB NOT NULL);
                    CREATE TABLE snapshot_meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        taken_at INTEGER NOT NULL,
                        journal_position INTEGER NOT NULL);
                    CREATE TABLE window_history (
                        pipeline TEXT NOT NULL,
                        user TEXT NOT NULL,
                        start INTEGER NOT NULL,
                        "end" INTEGER NOT NULL,
                        result BLOB NOT NULL,
                        PRIMARY KEY (user, pipeline, start)) WITHOUT ROWID;
                    """)
        }
        registerActivityTables(&migrator)
        registerHistoryTables(&migrator)
        migrator.registerMigration("v8-journal-autoincrement") { db in
            // Without AUTOINCREMENT, SQLite gave the first entry after a snapshot had emptied
            // the journal the number 1 again — at or below the snapshot's journal position, so
            // a restart skipped it: acknowledged telemetry lost to kill -9. Numbers now only grow,
            // and start above every position a snapshot has recorded.
            //
            // Entries already misnumbered are recovered: a snapshot deletes the entries it
            // includes in its own transaction, so every entry still here was journaled after the
            // last snapshot and is not in it. They are renumbered after its position, in order.
            try db.execute(
                sql: """
                    CREATE TABLE journal_v8 (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL);
                    INSERT INTO journal_v8 (seq, received_at, payload)
                        SELECT COALESCE((SELECT journal_position FROM snapshot_meta WHERE id = 1), 0) + ROW_NUMBER() OVER (ORDER BY seq),
                            received_at, payload
                        FROM journal;
                    DROP TABLE journal;
                    ALTER TABLE journal_v8 RENAME TO journal;
                    DELETE FROM sqlite_sequence WHERE name IN ('journal', 'journal_v8');
                    INSERT INTO sqlite_sequence (name, seq) VALUES ('journal', MAX(
                        COALESCE((SELECT MAX(seq) FROM journal), 0),
                        COALESCE((SELECT journal_position FROM snapshot_meta WHERE id = 1), 0)));
                    """)
        }
        migrator.registerMigration("v9-snapshot-chunks") { db in
            // A part in slices of at most `snapshotSlice` bytes, so that saving copies a slice at
            // a time (each bind copies its value) instead of the whole part twice over.
            try db.execute(
                sql: """
                    CREATE TABLE snapshot_slice (
                        name TEXT NOT NULL,
                        idx INTEGER NOT NULL,
                        state BLOB NOT NULL);
                    CREATE UNIQUE INDEX snapshot_slice_order ON snapshot_slice (name, idx);
                    INSERT INTO snapshot_slice (name, idx, state) SELECT name, 0, state FROM snapshot_part;
                    DROP TABLE snapshot_part;
                    """)
        }
        migrator.registerMigration("v10-snapshot-entries") { db in
            // Keyed parts (one entry per user) saved incrementally: a snapshot writes the
            // entries that changed since the previous one, so it costs what changed.
            try db.execute(
                sql: """
                    CREATE TABLE snapshot_entry (
                        part TEXT NOT NULL,
                        key TEXT NOT NULL,
                        state BLOB NOT NULL,
                        PRIMARY KEY (part, key)) WITHOUT ROWID;
                    """)
        }
        return migrator
    }

    /// Largest slice of a snapshot part in one row.
    static let snapshotSlice = 1 << 20

    // MARK: Journal

    /// Journal entries after `position`, oldest first.
    public func journal(after position: Int64) async throws -> [(seq: Int64, payload: [UInt8])] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, payload FROM journal WHERE seq > ? ORDER BY seq", arguments: [position])
                .map { (seq: $0["seq"], payload: [UInt8]($0["payload"] as Data)) }
        }
    }

    // MARK: Snapshots

    /// Replaces the snapshot atomically, drops journal entries it includes and writes the
    /// history batches not yet written. Keyed parts change by their entries' changes.
    public func save(_ snapshot: StateSnapshot, history: [HistoryBatch] = []) async throws {
        try await pool.write { db in
            try Self.write(history, db)
            try Self.write(snapshot.entries, db)
            try db.execute(sql: "DELETE FROM snapshot_slice")
            let insert = try db.cachedStatement(sql: "INSERT INTO snapshot_slice (name, idx, state) VALUES (?, ?, ?)")
            for (name, state) in snapshot.parts {
                try state.withUnsafeBytes { bytes in
                    var index = 0
                    for start in stride(from: 0, to: max(bytes.count, 1), by: Self.snapshotSlice) {
                        let count = min(Self.snapshotSlice, bytes.count - start)
                        // Borrowed, not copied: the bind below copies the slice into SQLite.
                        let slice =
                            count == 0
                            ? Data()
                            : Data(
                                bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + start), count: count, deallocator: .none)
                        try insert.execute(arguments: [name, index, slice])
                        index += 1
                    }
                }
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO snapshot_meta (id, taken_at, journal_position) VALUES (1, ?, ?)",
                arguments: [snapshot.takenAt, snapshot.journalPosition])
            try db.execute(sql: "DELETE FROM journal WHERE seq <= ?", arguments: [snapshot.journalPosition])
        }
    }

    /// The keyed parts stored, found by stepping through the primary key (a handful of seeks,
    /// not a scan of every entry).
    private static func storedParts(_ db: Database) throws -> [String] {
        var stored: [String] = []
        while let part = try String.fetchOne(
            db, sql: "SELECT part FROM snapshot_entry WHERE part > ? ORDER BY part LIMIT 1", arguments: [stored.last ?? ""])
        {
            stored.append(part)
        }
        return stored
    }

    /// Applies the keyed parts' changes; deletes the stored entries of keyed parts not named.
    private static func write(_ entries: [String: EntryChanges], _ db: Database) throws {
        for part in try storedParts(db) where entries[part] == nil {
            try db.execute(sql: "DELETE FROM snapshot_entry WHERE part = ?", arguments: [part])
        }
        let upsert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO snapshot_entry (part, key, state) VALUES (?, ?, ?)")
        let delete = try db.cachedStatement(sql: "DELETE FROM snapshot_entry WHERE part = ? AND key = ?")
        for (part, changes) in entries {
            if changes.replacesAll { try db.execute(sql: "DELETE FROM snapshot_entry WHERE part = ?", arguments: [part]) }
            for (key, entry) in changes.changes {
                if let entry {
                    try upsert.execute(arguments: [part, key, Data(entry)])
                } else if !changes.replacesAll {
                    try delete.execute(arguments: [part, key])
                }
            }
        }
    }

    /// The last saved snapshot, or nil on a first start.
    ///
    /// The keyed parts (a stage's users, the record tracker's sessions: ~45 MB and ~17 MB at
    /// 100,000 users) are read at the same time on reader connections of their own, each in its
    /// own transaction. The daemon loads once, at start-up, before its first save; should a save
    /// commit during a load all the same, the transactions see different snapshot identities
    /// (`taken_at`, journal position) and the load starts over.
    public func loadSnapshot() async throws -> StateSnapshot? {
        while true {
            let head = try await pool.read { db -> (identity: SnapshotIdentity, parts: [String: [UInt8]], keyed: [String])? in
                guard let identity = try SnapshotIdentity.fetch(db) else { return nil }
                var parts: [String: [UInt8]] = [:]
                let rows = try Row.fetchCursor(db, sql: "SELECT name, state FROM snapshot_slice ORDER BY name, idx")
                while let row = try rows.next() {
                    let name: String = row["name"]
                    (row["state"] as Data).withUnsafeBytes { parts[name, default: []].append(contentsOf: $0) }
                }
                return (identity, parts, try Self.storedParts(db))
            }
            guard let head else { return nil }
            let pool = self.pool
            let read = try await withThrowingTaskGroup(of: (String, [(key: String, entry: [UInt8]?)], SnapshotIdentity?).self) { group in
                for part in head.keyed {
                    group.addTask {
                        try await pool.read { db in (part, try Self.entries(of: part, db), try SnapshotIdentity.fetch(db)) }
                    }
                }
                var read: [String: EntryChanges] = [:]
                for try await (part, changes, identity) in group {
                    guard identity == head.identity else { return nil as [String: EntryChanges]? }
                    read[part] = EntryChanges(replacesAll: true, changes: changes)
                }
                return read
            }
            guard let entries = read else { continue }  // a save committed meanwhile: read the new one
            return StateSnapshot(parts: head.parts, entries: entries, journalPosition: head.identity.journalPosition, takenAt: head.identity.takenAt)
        }
    }

    /// Which snapshot a transaction sees: each save writes its own `taken_at` and journal position.
    private struct SnapshotIdentity: Equatable, Sendable {
        let takenAt: Int64
        let journalPosition: Int64

        static func fetch(_ db: Database) throws -> Self? {
            try Row.fetchOne(db, sql: "SELECT taken_at, journal_position FROM snapshot_meta WHERE id = 1").map {
                Self(takenAt: $0[0], journalPosition: $0[1])
            }
        }
    }

    /// Every entry of a keyed part: columns by position, each entry copied once out of SQLite's
    /// buffer (not into a `Data` first).
    private static func entries(of part: String, _ db: Database) throws -> [(key: String, entry: [UInt8]?)] {
        var changes: [(key: String, entry: [UInt8]?)] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT key, state FROM snapshot_entry WHERE part = ?", arguments: [part])
        while let row = try rows.next() {
            changes.append((row[0], try row.withUnsafeData(atIndex: 1) { data in data.map { [UInt8]($0) } ?? [] }))
        }
        return changes
    }

    // MARK: Window history

    /// Records closed windows; an update replaces the earlier result of the same window.
    public func record(_ windows: [WindowRecord]) async throws {
        guard !windows.isEmpty else { return }
        try await pool.write { db in
            let statement = try db.cachedStatement(
                sql: #"INSERT OR REPLACE INTO window_history (pipeline, user, start, "end", result) VALUES (?, ?, ?, ?, ?)"#)
            for w in windows {
                try statement.execute(arguments: [w.pipeline, w.user, w.start, w.end, Data(w.result)])
            }
        }
    }

    /// Closed windows of `user` overlapping [from, to), oldest first.
    public func windows(user: String, from: Int64, to: Int64) async throws -> [WindowRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: #"SELECT pipeline, start, "end", result FROM window_history WHERE user = ? AND "end" > ? AND start < ? ORDER BY start, pipeline LIMIT 10000"#,
                arguments: [user, from, to]
            ).map {
                WindowRecord(pipeline: $0["pipeline"], user: user, start: $0["start"], end: $0["end"], result: [UInt8]($0["result"] as Data))
            }
        }
    }
}

extension ClubStore {
    /// The main file's size: pages allocated (what the file takes on disk, the write-ahead log
    /// checkpointed first) and pages in use (allocated less the free list that later writes reuse).
    public func databaseSize() throws -> (allocated: Int, used: Int) {
        try checkpointer.checkpoint(0, .truncate)  // on the checkpointer's connection: never beside its own
        return try pool.read { db in
            let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            return (pages * pageSize, (pages - free) * pageSize)
        }
    }
}
