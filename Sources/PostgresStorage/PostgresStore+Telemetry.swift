import ClubKernel
import Logging
import NIOCore
import Events
import Pipeline
import PostgresNIO
import Telemetry
import Users

/// Snapshots, the journal of acknowledged telemetry, closed windows and the telemetry history
/// on PostgreSQL. As on SQLite, a snapshot, the journal entries it includes and the history
/// batches it seals change in one transaction.
extension PostgresStore: TelemetryStore, HistoryStore {
    /// Largest slice of a snapshot part in one row, and most entries in one statement.
    static let snapshotSlice = 1 << 20
    static let rowsPerStatement = 2_000

    public func journal(after position: Int64) async throws -> [(seq: Int64, payload: [UInt8])] {
        var entries: [(seq: Int64, payload: [UInt8])] = []
        let rows = try await client.query("SELECT seq, payload FROM journal WHERE seq > \(position) ORDER BY seq", logger: logger)
        for try await (seq, payload) in rows.decode((Int64, ByteBuffer).self) { entries.append((seq, payload.bytes)) }
        return entries
    }

    public func save(_ snapshot: StateSnapshot, history: [HistoryBatch]) async throws {
        let logger = self.logger
        try await writing { connection in
            try await Self.write(history, connection, logger)
            try await Self.write(snapshot.entries, connection, logger)
            try await connection.query("DELETE FROM snapshot_slice", logger: logger)
            for (name, state) in snapshot.parts {
                var index: Int64 = 0
                for start in stride(from: 0, to: max(state.count, 1), by: Self.snapshotSlice) {
                    let slice = ByteBuffer(bytes: state[start..<min(state.count, start + Self.snapshotSlice)])
                    try await connection.query(
                        "INSERT INTO snapshot_slice (name, idx, state) VALUES (\(name), \(index), \(slice))", logger: logger)
                    index += 1
                }
            }
            try await connection.query(
                """
                INSERT INTO snapshot_meta (id, taken_at, journal_position) VALUES (1, \(snapshot.takenAt), \(snapshot.journalPosition))
                ON CONFLICT (id) DO UPDATE SET taken_at = EXCLUDED.taken_at, journal_position = EXCLUDED.journal_position
                """, logger: logger)
            try await connection.query("DELETE FROM journal WHERE seq <= \(snapshot.journalPosition)", logger: logger)
        }
    }

    /// Applies the keyed parts' changes; deletes the stored entries of keyed parts not named.
    private static func write(_ entries: [String: EntryChanges], _ connection: PostgresConnection, _ logger: Logger) async throws {
        let named = Array(entries.keys)
        try await connection.query("DELETE FROM snapshot_entry WHERE NOT (part = ANY(\(named)))", logger: logger)
        for (part, changes) in entries {
            if changes.replacesAll { try await connection.query("DELETE FROM snapshot_entry WHERE part = \(part)", logger: logger) }
            // The last change of each key wins, as when they are applied one by one.
            var last: [String: [UInt8]?] = [:]
            var order: [String] = []
            for (key, entry) in changes.changes {
                if last.updateValue(entry, forKey: key) == nil { order.append(key) }
            }
            var upserted: [(String, [UInt8])] = []
            var deleted: [String] = []
            for key in order {
                if let entry = last[key]! { upserted.append((key, entry)) } else if !changes.replacesAll { deleted.append(key) }
            }
            for start in stride(from: 0, to: upserted.count, by: rowsPerStatement) {
                let rows = upserted[start..<min(upserted.count, start + rowsPerStatement)]
                try await connection.query(
                    """
                    INSERT INTO snapshot_entry (part, key, state) SELECT \(part), k, s FROM unnest(\(rows.map(\.0)), \(rows.map { ByteBuffer(bytes: $0.1) })) AS e(k, s)
                    ON CONFLICT (part, key) DO UPDATE SET state = EXCLUDED.state
                    """, logger: logger)
            }
            for start in stride(from: 0, to: deleted.count, by: rowsPerStatement) {
                let keys = Array(deleted[start..<min(deleted.count, start + rowsPerStatement)])
                try await connection.query("DELETE FROM snapshot_entry WHERE part = \(part) AND key = ANY(\(keys))", logger: logger)
            }
        }
    }

    /// The last saved snapshot, or nil on a first start: read in one repeatable-read
    /// transaction, so a save committing meanwhile is not half seen.
    public func loadSnapshot() async throws -> StateSnapshot? {
        let logger = self.logger
        return try await reading { connection -> StateSnapshot? in
            var identity: (takenAt: Int64, journalPosition: Int64)?
            for try await (takenAt, position) in try await connection.query(
                "SELECT taken_at, journal_position FROM snapshot_meta WHERE id = 1", logger: logger
            ).decode((Int64, Int64).self) {
                identity = (takenAt, position)
            }
            guard let identity else { return nil }
            var parts: [String: [UInt8]] = [:]
            for try await (name, slice) in try await connection.query(
                "SELECT name, state FROM snapshot_slice ORDER BY name, idx", logger: logger
            ).decode((String, ByteBuffer).self) {
                slice.withUnsafeReadableBytes { parts[name, default: []].append(contentsOf: $0) }
            }
            var entries: [String: EntryChanges] = [:]
            for try await (part, key, state) in try await connection.query(
                "SELECT part, key, state FROM snapshot_entry", logger: logger
            ).decode((String, String, ByteBuffer).self) {
                entries[part, default: EntryChanges(replacesAll: true, changes: [])].changes.append((key, state.bytes))
            }
            return StateSnapshot(parts: parts, entries: entries, journalPosition: identity.journalPosition, takenAt: identity.takenAt)
        }
    }

    public func record(_ windows: [WindowRecord]) async throws {
        guard !windows.isEmpty else { return }
        // The last result of each window wins, as when they are written one by one.
        var last: [WindowKey: WindowRecord] = [:]
        for w in windows { last[WindowKey(pipeline: w.pipeline, user: w.user, start: w.start)] = w }
        let rows = Array(last.values)
        let logger = self.logger
        try await writing { connection in
        for start in stride(from: 0, to: rows.count, by: Self.rowsPerStatement) {
            let part = rows[start..<min(rows.count, start + Self.rowsPerStatement)]
            try await connection.query(
                """
                INSERT INTO window_history (pipeline, user_id, start, "end", result)
                SELECT * FROM unnest(\(part.map(\.pipeline)), \(part.map(\.user)), \(part.map(\.start)), \(part.map(\.end)),
                                     \(part.map { ByteBuffer(bytes: $0.result) }))
                ON CONFLICT (user_id, pipeline, start) DO UPDATE SET "end" = EXCLUDED."end", result = EXCLUDED.result
                """, logger: logger)
        }
        }
    }

    private struct WindowKey: Hashable {
        let pipeline: String
        let user: String
        let start: Int64
    }

    public func windows(user: String, from: Int64, to: Int64) async throws -> [WindowRecord] {
        var records: [WindowRecord] = []
        let rows = try await client.query(
            """
            SELECT pipeline, start, "end", result FROM window_history WHERE user_id = \(user) AND "end" > \(from) AND start < \(to)
            ORDER BY start, pipeline LIMIT 10000
            """, logger: logger)
        for try await (pipeline, start, end, result) in rows.decode((String, Int64, Int64, ByteBuffer).self) {
            records.append(WindowRecord(pipeline: pipeline, user: user, start: start, end: end, result: result.bytes))
        }
        return records
    }

    // MARK: Telemetry history

    /// Writes the batches newer than the committed generation, then recomputes the days their
    /// minutes touched (as on SQLite).
    private static func write(_ batches: [HistoryBatch], _ connection: PostgresConnection, _ logger: Logger) async throws {
        guard !batches.isEmpty else { return }
        var committed = try await generation(connection, logger)
        var days: [String: Set<Int64>] = [:]
        for batch in batches where batch.generation > committed {
            let chunks = batch.chunks
            for start in stride(from: 0, to: chunks.count, by: rowsPerStatement) {
                let part = chunks[start..<min(chunks.count, start + rowsPerStatement)]
                try await connection.query(
                    """
                    INSERT INTO history_chunk (user_id, first_ts, last_ts, samples, data)
                    SELECT * FROM unnest(\(part.map(\.user)), \(part.map(\.chunk.firstTs)), \(part.map(\.chunk.lastTs)),
                                         \(part.map { Int64($0.chunk.count) }), \(part.map { ByteBuffer(bytes: $0.chunk.bytes) }))
                    """, logger: logger)
            }
            var minutes: [MinuteKey: Rollup] = [:]
            for row in batch.minutes {
                minutes[MinuteKey(user: row.user, start: row.start)] = row.rollup
                days[row.user, default: []].insert(HistorySettings.dayStart(row.start))
            }
            let rows = Array(minutes)
            for start in stride(from: 0, to: rows.count, by: rowsPerStatement) {
                let part = rows[start..<min(rows.count, start + rowsPerStatement)]
                try await connection.query(
                    """
                    INSERT INTO history_minute (user_id, start, samples, distance, moving_ms, hr_sum, hr_count, hr_max)
                    SELECT * FROM unnest(\(part.map(\.key.user)), \(part.map(\.key.start)), \(part.map { Int64($0.value.samples) }),
                                         \(part.map(\.value.distance)), \(part.map(\.value.movingMillis)), \(part.map(\.value.heartRateSum)),
                                         \(part.map { Int64($0.value.heartRateCount) }), \(part.map(\.value.heartRateMax)))
                    ON CONFLICT (user_id, start) DO UPDATE SET samples = EXCLUDED.samples, distance = EXCLUDED.distance,
                        moving_ms = EXCLUDED.moving_ms, hr_sum = EXCLUDED.hr_sum, hr_count = EXCLUDED.hr_count, hr_max = EXCLUDED.hr_max
                    """, logger: logger)
            }
            committed = batch.generation
        }
        let keys = days.flatMap { user, starts in starts.map { (user, $0) } }
        for start in stride(from: 0, to: keys.count, by: rowsPerStatement) {
            let part = keys[start..<min(keys.count, start + rowsPerStatement)]
            try await connection.query(
                """
                INSERT INTO history_day (user_id, start, samples, distance, moving_ms, hr_sum, hr_count, hr_max)
                SELECT d.u, d.s, SUM(m.samples), SUM(m.distance), SUM(m.moving_ms), SUM(m.hr_sum), SUM(m.hr_count), MAX(m.hr_max)
                FROM unnest(\(part.map(\.0)), \(part.map(\.1))) AS d(u, s)
                JOIN history_minute m ON m.user_id = d.u AND m.start >= d.s AND m.start < d.s + \(HistorySettings.day)
                GROUP BY d.u, d.s
                ON CONFLICT (user_id, start) DO UPDATE SET samples = EXCLUDED.samples, distance = EXCLUDED.distance,
                    moving_ms = EXCLUDED.moving_ms, hr_sum = EXCLUDED.hr_sum, hr_count = EXCLUDED.hr_count, hr_max = EXCLUDED.hr_max
                """, logger: logger)
        }
        try await connection.query(
            """
            INSERT INTO history_meta (id, generation) VALUES (1, \(committed))
            ON CONFLICT (id) DO UPDATE SET generation = EXCLUDED.generation
            """, logger: logger)
    }

    private struct MinuteKey: Hashable {
        let user: String
        let start: Int64
    }

    private static func generation(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        for try await generation in try await connection.query("SELECT generation FROM history_meta WHERE id = 1", logger: logger)
            .decode(Int64.self)
        {
            return generation
        }
        return 0
    }

    public func historySamples(user: String, from: Int64, to: Int64) async throws -> HistoryRead<[TelemetrySample]> {
        let logger = self.logger
        return try await reading { connection in
            var samples: [TelemetrySample] = []
            var corrupt = 0
            let rows = try await connection.query(
                "SELECT data FROM history_chunk WHERE user_id = \(user) AND last_ts >= \(from) AND first_ts < \(to) ORDER BY id", logger: logger)
            for try await data in rows.decode(ByteBuffer.self) {
                do {
                    samples += try SampleChunk.samples(in: data.bytes, user: user).filter { $0.ts >= from && $0.ts < to }
                } catch {
                    corrupt += 1
                }
            }
            return HistoryRead(generation: try await Self.generation(connection, logger), value: samples, corrupt: corrupt)
        }
    }

    public func historyRollups(_ resolution: HistoryResolution, user: String, from: Int64, to: Int64) async throws -> HistoryRead<[Int64: Rollup]> {
        let table = resolution == .day ? "history_day" : "history_minute"
        let logger = self.logger
        return try await reading { connection in
            var points: [Int64: Rollup] = [:]
            let rows = try await connection.query(
                """
                SELECT start, samples, distance, moving_ms, hr_sum, hr_count, hr_max FROM \(unescaped: table)
                WHERE user_id = \(user) AND start >= \(from) AND start < \(to)
                """, logger: logger)
            for try await (start, samples, distance, moving, hrSum, hrCount, hrMax) in rows.decode(
                (Int64, Int64, Double, Int64, Double, Int64, Double).self)
            {
                points[start] = Rollup(
                    samples: Int(samples), distance: distance, movingMillis: moving, heartRateSum: hrSum, heartRateCount: Int(hrCount),
                    heartRateMax: hrMax)
            }
            return HistoryRead(generation: try await Self.generation(connection, logger), value: points, corrupt: 0)
        }
    }

    public func deleteHistory(samplesBefore: Int64?, minutesBefore: Int64?, daysBefore: Int64?, limit: Int) async throws -> Int {
        let logger = self.logger
        return try await writing { connection in
            var deleted = 0
            var statements: [PostgresQuery] = []
            if let samplesBefore {
                statements.append(
                    """
                    WITH gone AS (DELETE FROM history_chunk WHERE id IN (SELECT id FROM history_chunk WHERE last_ts < \(samplesBefore) LIMIT \(Int64(limit))) RETURNING 1)
                    SELECT count(*) FROM gone
                    """)
            }
            for (table, before) in [("history_minute", minutesBefore), ("history_day", daysBefore)] {
                guard let before else { continue }
                statements.append(
                    """
                    WITH gone AS (DELETE FROM \(unescaped: table) WHERE (user_id, start) IN
                        (SELECT user_id, start FROM \(unescaped: table) WHERE start < \(before) LIMIT \(Int64(limit))) RETURNING 1)
                    SELECT count(*) FROM gone
                    """)
            }
            for statement in statements {
                for try await count in try await connection.query(statement, logger: logger).decode(Int64.self) { deleted += Int(count) }
            }
            return deleted
        }
    }
}
