import ClubKernel
import Events
import Foundation
import GRDB
import Pipeline
import Users

/// The User subsystem's telemetry history in the main file: raw samples as one chunk per user
/// and snapshot (``SampleChunk``), minute rollups, and day rollups summed from the minutes.
/// Batches are written in the snapshot's transaction (``save(_:history:)``), so a sample is in
/// the history exactly when the snapshot no longer replays it.
extension ClubStore: HistoryStore {
    static func registerHistoryTables(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-history") { db in
            try db.execute(
                sql: """
                    CREATE TABLE history_chunk (
                        id INTEGER PRIMARY KEY,
                        user TEXT NOT NULL,
                        first_ts INTEGER NOT NULL,
                        last_ts INTEGER NOT NULL,
                        samples INTEGER NOT NULL,
                        data BLOB NOT NULL);
                    CREATE INDEX history_chunk_user ON history_chunk (user, last_ts);
                    CREATE INDEX history_chunk_age ON history_chunk (last_ts);
                    CREATE TABLE history_meta (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        generation INTEGER NOT NULL);
                    """)
            // Minutes and days: the same sums, by the start of the minute or the UTC day.
            for table in ["history_minute", "history_day"] {
                try db.execute(
                    sql: """
                        CREATE TABLE \(table) (
                            user TEXT NOT NULL,
                            start INTEGER NOT NULL,
                            samples INTEGER NOT NULL,
                            distance REAL NOT NULL,
                            moving_ms INTEGER NOT NULL,
                            hr_sum REAL NOT NULL,
                            hr_count INTEGER NOT NULL,
                            hr_max REAL NOT NULL,
                            PRIMARY KEY (user, start)) WITHOUT ROWID;
                        CREATE INDEX \(table)_age ON \(table) (start);
                        """)
            }
        }
    }

    /// Writes the batches newer than the committed generation (a batch handed again after a
    /// save that did commit is skipped), then recomputes the days their minutes touched.
    static func write(_ batches: [HistoryBatch], _ db: Database) throws {
        guard !batches.isEmpty else { return }
        var committed = try generation(db)
        let chunk = try db.cachedStatement(
            sql: "INSERT INTO history_chunk (user, first_ts, last_ts, samples, data) VALUES (?, ?, ?, ?, ?)")
        let minute = try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO history_minute (user, start, samples, distance, moving_ms, hr_sum, hr_count, hr_max)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
        var days: Set<DayKey> = []
        for batch in batches where batch.generation > committed {
            for (user, c) in batch.chunks {
                try chunk.execute(arguments: [user, c.firstTs, c.lastTs, c.count, Data(c.bytes)])
            }
            for row in batch.minutes {
                let r = row.rollup
                try minute.execute(
                    arguments: [row.user, row.start, r.samples, r.distance, r.movingMillis, r.heartRateSum, r.heartRateCount, r.heartRateMax])
                days.insert(DayKey(user: row.user, start: HistorySettings.dayStart(row.start)))
            }
            committed = batch.generation
        }
        let day = try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO history_day (user, start, samples, distance, moving_ms, hr_sum, hr_count, hr_max)
                SELECT user, ?, SUM(samples), SUM(distance), SUM(moving_ms), SUM(hr_sum), SUM(hr_count), MAX(hr_max)
                FROM history_minute WHERE user = ? AND start >= ? AND start < ? GROUP BY user
                """)
        for key in days {
            try day.execute(arguments: [key.start, key.user, key.start, key.start + HistorySettings.day])
        }
        try db.execute(sql: "INSERT OR REPLACE INTO history_meta (id, generation) VALUES (1, ?)", arguments: [committed])
    }

    private struct DayKey: Hashable {
        let user: String
        let start: Int64
    }

    public func historySamples(user: String, from: Int64, to: Int64) async throws -> HistoryRead<[TelemetrySample]> {
        try await pool.read { db in
            var samples: [TelemetrySample] = []
            var corrupt = 0
            let rows = try Row.fetchCursor(
                db, sql: "SELECT data FROM history_chunk WHERE user = ? AND last_ts >= ? AND first_ts < ? ORDER BY id",
                arguments: [user, from, to])
            while let row = try rows.next() {
                do {
                    samples += try SampleChunk.samples(in: [UInt8](row["data"] as Data), user: user).filter { $0.ts >= from && $0.ts < to }
                } catch {
                    corrupt += 1
                }
            }
            return HistoryRead(generation: try Self.generation(db), value: samples, corrupt: corrupt)
        }
    }

    public func historyRollups(_ resolution: HistoryResolution, user: String, from: Int64, to: Int64) async throws -> HistoryRead<[Int64: Rollup]> {
        let table = resolution == .day ? "history_day" : "history_minute"
        return try await pool.read { db in
            var points: [Int64: Rollup] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT start, samples, distance, moving_ms, hr_sum, hr_count, hr_max FROM \(table) WHERE user = ? AND start >= ? AND start < ?",
                arguments: [user, from, to])
            while let row = try rows.next() {
                points[row["start"]] = Rollup(
                    samples: row["samples"], distance: row["distance"], movingMillis: row["moving_ms"], heartRateSum: row["hr_sum"],
                    heartRateCount: row["hr_count"], heartRateMax: row["hr_max"])
            }
            return HistoryRead(generation: try Self.generation(db), value: points, corrupt: 0)
        }
    }

    private static func generation(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT generation FROM history_meta WHERE id = 1") ?? 0
    }

    /// Deletes at most `limit` rows of each resolution older than its cut-off, in one short
    /// write transaction; the caller repeats until fewer come back.
    public func deleteHistory(samplesBefore: Int64?, minutesBefore: Int64?, daysBefore: Int64?, limit: Int) async throws -> Int {
        try await pool.write { db in
            var deleted = 0
            if let samplesBefore {
                try db.execute(
                    sql: "DELETE FROM history_chunk WHERE id IN (SELECT id FROM history_chunk WHERE last_ts < ? LIMIT ?)",
                    arguments: [samplesBefore, limit])
                deleted += db.changesCount
            }
            for (table, before) in [("history_minute", minutesBefore), ("history_day", daysBefore)] {
                guard let before else { continue }
                try db.execute(
                    sql: "DELETE FROM \(table) WHERE (user, start) IN (SELECT user, start FROM \(table) WHERE start < ? LIMIT ?)",
                    arguments: [before, limit])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    /// Rows of each history table, for tests and `health`.
    public func historyRowCounts() throws -> (chunks: Int, samples: Int, minutes: Int, days: Int) {
        try pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM history_chunk") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(samples), 0) FROM history_chunk") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM history_minute") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM history_day") ?? 0
            )
        }
    }
}
