import ClubKernel
import ClubRuntime
import Logging
import NIOCore
import Pipeline
import PostgresNIO
import Users

/// The activity log on PostgreSQL: the ordered, de-duplicated event queue, the consumers'
/// offsets and states, and the journal of acknowledged telemetry that `submit` writes with it.
extension PostgresStore: ActivityLogStore, ConsumerStateStore, ConsumerOffsetStore {
    /// What a log transaction adds: its new entries and the connections after it.
    struct Committed: Sendable {
        var records: [ActivityEvent]
        var connections: Connections
    }

    /// Runs `body` in a transaction of the log's writer, holding the head's row lock (the
    /// order across instances); once it has committed — and only then — the new entries join
    /// the tail and the connections they changed take effect.
    private func appending<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection, inout Int64) async throws -> (T, Committed)
    ) async throws -> T {
        try await writer.run {
            let logger = self.logger
            if self.gateStale.withLock({ $0 }), let gate = self.gate {
                try await client.withConnection { try await Self.replay(into: gate, $0, logger) }
                self.gateStale.withLock { $0 = false }
            }
            let result: (T, Committed)
            do {
                result = try await client.withTransaction(logger: logger) { connection in
                    var head = try await Self.lockHead(connection, logger)
                    let start = head
                    let result = try await body(connection, &head)
                    if head != start {
                        try await connection.query("UPDATE activity_head SET newest = \(head) WHERE id = 1", logger: logger)
                    }
                    return result
                }
            } catch {
                // The gate may have admitted events of the transaction that did not commit.
                if self.gate != nil { self.gateStale.withLock { $0 = true } }
                throw error
            }
            if !result.1.records.isEmpty {
                self.tail.append(result.1.records)
                self.connections.withLock { $0 = result.1.connections }
            }
            return result.0
        }
    }

    /// The newest offset given out, its row locked until the transaction ends.
    private static func lockHead(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        for try await newest in try await connection.query("SELECT newest FROM activity_head WHERE id = 1 FOR UPDATE", logger: logger)
            .decode(Int64.self)
        {
            return newest
        }
        throw PostgresStoreError("the activity log's head row is missing")
    }

    public func appendSubmission(journal payload: [UInt8]?, events: [ActivityEvent], receivedAt: Int64) async throws -> (
        journalSeq: Int64?, appended: [AppendOutcome]
    ) {
        try await appending { connection, head in
            var seq: Int64?
            if let payload {
                let rows = try await connection.query(
                    "INSERT INTO journal (received_at, payload) VALUES (\(receivedAt), \(ByteBuffer(bytes: payload))) RETURNING seq",
                    logger: self.logger)
                for try await value in rows.decode(Int64.self) { seq = value }
            }
            let inserted = try await self.insert(events, receivedAt: receivedAt, connection, &head)
            return ((seq, inserted.outcomes), inserted.committed)
        }
    }

    public func appendActivity(_ events: [ActivityEvent], receivedAt: Int64) async throws -> [AppendOutcome] {
        guard !events.isEmpty else { return [] }
        return try await appending { connection, head in
            let inserted = try await self.insert(events, receivedAt: receivedAt, connection, &head)
            return (inserted.outcomes, inserted.committed)
        }
    }

    public func forgetImports(user: String, system: String, notice: ActivityEvent, receivedAt: Int64) async throws -> Int {
        try await appending { connection, head in
            // `json`, not `jsonb`: it takes every JSON text the decoder accepted (\u0000 included).
            let rows = try await connection.query(
                """
                WITH gone AS (
                    DELETE FROM activity WHERE user_id = \(user) AND type = 'workout'
                      AND lower(convert_from(body, 'UTF8')::json ->> 'source') = lower(\(system))
                    RETURNING 1)
                SELECT count(*) FROM gone
                """, logger: self.logger)
            var deleted = 0
            for try await count in rows.decode(Int64.self) { deleted = Int(count) }
            return (deleted, try await self.insert([notice], receivedAt: receivedAt, connection, &head).committed)
        }
    }

    /// Decides and inserts `events` within the caller's transaction, in order: consent first,
    /// then duplicates (an id in the log or earlier in the batch), then the admission gate.
    /// New entries take the offsets after `head`.
    private func insert(_ events: [ActivityEvent], receivedAt: Int64, _ connection: PostgresConnection, _ head: inout Int64) async throws -> (
        outcomes: [AppendOutcome], committed: Committed
    ) {
        var seen = Set<String>()
        let ids = events.map(\.id)
        for try await id in try await connection.query("SELECT id FROM activity WHERE id = ANY(\(ids))", logger: logger).decode(String.self) {
            seen.insert(id)
        }
        var consent = connections.withLock { $0 }
        var appended: [ActivityEvent] = []
        var gated: [Int64] = []
        var changed: [(user: String, system: String, active: Bool, offset: Int64)] = []
        let outcomes = events.map { e -> AppendOutcome in
            if case .needs(let system) = e.consent, !consent.allows(user: e.user, source: system) {
                return .refused(
                    .noConsent, "user '\(e.user)' has no active connection to '\(system)': a connection event with state 'active' must come first")
            }
            guard seen.insert(e.id).inserted else { return .duplicate }
            let gate = self.gate.flatMap { $0.decides(e.type) ? $0 : nil }
            if let gate, let refusal = gate.admit(e) {
                seen.remove(e.id)  // refused, not in the log: a later copy is decided afresh
                return .refused(refusal.reason, refusal.message)
            }
            head += 1
            if gate != nil { gated.append(head) }
            if case .connection(let system, let active) = e.consent {
                consent.set(user: e.user, system: system, active: active)
                changed.append((e.user, system.lowercased(), active, head))
            }
            appended.append(e.appended(at: head))
            return .new
        }
        if !appended.isEmpty {
            let bodies = appended.map { ByteBuffer(bytes: $0.json) }
            try await connection.query(
                """
                INSERT INTO activity ("offset", id, type, user_id, at, received_at, body, sender)
                SELECT o, i, t, u, a, \(receivedAt), b, NULLIF(s, '')
                FROM unnest(\(appended.map(\.offset)), \(appended.map(\.id)), \(appended.map(\.type)), \(appended.map(\.user)),
                            \(appended.map(\.at)), \(bodies), \(appended.map { $0.sender ?? "" })) AS e(o, i, t, u, a, b, s)
                """, logger: logger)
        }
        if !gated.isEmpty {
            try await connection.query(#"INSERT INTO gated_event ("offset") SELECT unnest(\#(gated))"#, logger: logger)
        }
        for c in changed {
            try await connection.query(
                """
                INSERT INTO connection (user_id, system, active, "offset") VALUES (\(c.user), \(c.system), \(c.active), \(c.offset))
                ON CONFLICT (user_id, system) DO UPDATE SET active = EXCLUDED.active, "offset" = EXCLUDED."offset"
                """, logger: logger)
        }
        return (outcomes, Committed(records: appended, connections: consent))
    }

    /// Rebuilds `gate` from the log entries it admitted, in log order.
    static func replay(into gate: any AdmissionGate, _ connection: PostgresConnection, _ logger: Logger) async throws {
        gate.reset()
        let rows = try await connection.query(
            #"""
            SELECT a."offset", a.id, a.type, a.user_id, a.at, a.body, a.sender FROM gated_event g
            JOIN activity a ON a."offset" = g."offset" ORDER BY g."offset"
            """#, logger: logger)
        for try await row in rows {
            _ = gate.admit(try event(row))
        }
    }

    /// The connections recorded in the log, for the consent checks.
    static func loadConnections(_ connection: PostgresConnection, _ logger: Logger) async throws -> Connections {
        var connections = Connections()
        for try await (user, system, active) in try await connection.query("SELECT user_id, system, active FROM connection", logger: logger)
            .decode((String, String, Bool).self)
        {
            connections.set(user: user, system: system, active: active)
        }
        return connections
    }

    /// A log entry from a row of `"offset", id, type, user_id, at, body, sender`.
    static func event(_ row: PostgresRow) throws -> ActivityEvent {
        let (offset, id, type, user, at, body, sender) = try row.decode((Int64, String, String, String, Int64, ByteBuffer, String?).self)
        return ActivityEvent(offset: offset, id: id, type: type, user: user, at: at, json: body.bytes, sender: sender)
    }

    public func activity(after offset: Int64, limit: Int) async throws -> [ActivityEvent] {
        if let recent = tail.read(after: offset, limit: limit) { return recent }
        var events: [ActivityEvent] = []
        let rows = try await client.query(
            #"SELECT "offset", id, type, user_id, at, body, sender FROM activity WHERE "offset" > \#(offset) ORDER BY "offset" LIMIT \#(Int64(limit))"#,
            logger: logger)
        for try await row in rows { events.append(try Self.event(row)) }
        return events
    }

    /// Offsets one filtered read passes over at most (as on SQLite).
    static let filteredStretch: Int64 = 8_192

    public func activity(after offset: Int64, limit: Int, types: Set<String>) async throws -> ActivityBatch {
        if let recent = tail.read(after: offset, limit: limit, types: types, stretch: Self.filteredStretch) { return recent }
        let end = min(tail.newest, offset + Self.filteredStretch)
        guard end > offset else { return ActivityBatch(records: [], through: offset) }
        var records: [ActivityEvent] = []
        let rows = try await client.query(
            #"""
            SELECT "offset", id, type, user_id, at, body, sender FROM activity
            WHERE "offset" > \#(offset) AND "offset" <= \#(end) AND type = ANY(\#(types.sorted()))
            ORDER BY "offset" LIMIT \#(Int64(limit))
            """#, logger: logger)
        for try await row in rows { records.append(try Self.event(row)) }
        return ActivityBatch(records: records, through: records.count == limit ? records[records.count - 1].offset : end)
    }

    public var newestActivityOffset: Int64 { tail.newest }

    public func consumerOffset(_ name: String) async throws -> Int64 {
        try await client.withConnection { try await Self.offset(of: name, $0, self.logger) }
    }

    private static func offset(of name: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        for try await offset in try await connection.query(#"SELECT "offset" FROM consumer_offset WHERE name = \#(name)"#, logger: logger)
            .decode(Int64.self)
        {
            return offset
        }
        return 0
    }

    public func commitOffset(_ name: String, _ offset: Int64) async throws {
        try await client.withConnection { try await Self.setOffset(name, offset, $0, self.logger) }
    }

    private static func setOffset(_ name: String, _ offset: Int64, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query(
            #"""
            INSERT INTO consumer_offset (name, "offset") VALUES (\#(name), \#(offset))
            ON CONFLICT (name) DO UPDATE SET "offset" = EXCLUDED."offset"
            """#, logger: logger)
    }

    public func commitConsumer(_ name: String, offset: Int64, state: [UInt8], raising: [ActivityEvent]) async throws {
        let receivedAt = Clock.nowMillis()
        try await appending { connection, head in
            try await connection.query(
                """
                INSERT INTO consumer_state (name, state) VALUES (\(name), \(ByteBuffer(bytes: state)))
                ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state
                """, logger: self.logger)
            try await Self.setOffset(name, offset, connection, self.logger)
            let committed =
                raising.isEmpty
                ? Committed(records: [], connections: self.connections.withLock { $0 })
                : try await self.insert(raising, receivedAt: receivedAt, connection, &head).committed
            return ((), committed)
        }
    }

    public func consumerState(_ name: String) async throws -> (offset: Int64, state: [UInt8])? {
        try await client.withConnection { connection in
            var state: [UInt8]?
            for try await blob in try await connection.query("SELECT state FROM consumer_state WHERE name = \(name)", logger: self.logger)
                .decode(ByteBuffer.self)
            {
                state = blob.bytes
            }
            guard let state else { return nil }
            return (try await Self.offset(of: name, connection, self.logger), state)
        }
    }

    public func pruneActivity(receivedBefore cutoff: Int64, consumers: [String]) async throws -> Int {
        let ledger = try await ledgerPosition()
        let offers = try await offersPosition()
        return try await client.withConnection { connection in
            var passed = min(ledger, offers)
            for name in consumers { passed = min(passed, try await Self.offset(of: name, connection, self.logger)) }
            let rows = try await connection.query(
                #"""
                WITH gone AS (
                    DELETE FROM activity WHERE received_at < \#(cutoff) AND "offset" <= \#(passed)
                      AND "offset" NOT IN (SELECT "offset" FROM gated_event)
                    RETURNING 1)
                SELECT count(*) FROM gone
                """#, logger: self.logger)
            var deleted = 0
            for try await count in rows.decode(Int64.self) { deleted = Int(count) }
            return deleted
        }
    }
}
