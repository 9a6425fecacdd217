import ClubKernel
import ClubRuntime
import Logging
import NIOCore
import Pipeline
import PostgresNIO
import Synchronization
import Users

/// The activity log on PostgreSQL: the ordered, de-duplicated event queue, the consumers'
/// offsets and states, and the journal of acknowledged telemetry that `submit` writes with it.
extension PostgresStore: ActivityLogStore, ConsumerStateStore, ConsumerOffsetStore {
    /// What a log transaction adds: its new entries and the connections after it.
    struct Committed: Sendable {
        var records: [ActivityEvent]
        var connections: Connections
    }

    /// What one transaction of the log's writer does besides appending: the journal entry of a
    /// `submit`, a consumer's state and offset, the deletion of a user's imports.
    struct LogWrite: Sendable {
        var events: [ActivityEvent] = []
        var receivedAt: Int64
        var journal: [UInt8]?
        var consumer: (name: String, offset: Int64, state: [UInt8])?
        var forget: (user: String, system: String)?
    }

    /// What a ``LogWrite`` came to.
    struct LogWritten: Sendable {
        var outcomes: [AppendOutcome]
        var journalSeq: Int64?
        var forgotten: Int
    }

    /// Runs `write` in one transaction of the log's writer: one statement reads the head (row
    /// locked until the commit: the order across instances) and which of the events' ids the
    /// log has; the events are decided here, in order; one statement writes everything. Once
    /// it has committed — and only then — the new entries join the tail and the connections
    /// they changed take effect.
    private func commitLog(_ write: LogWrite) async throws -> LogWritten {
        _ = try fenceValues()  // refused at once while the lease is not held
        // Not cancelled when the caller stops waiting: once it has committed, its entries must
        // reach the tail. The caller waits at most `writeTimeout` (the server may have gone
        // away after the check above: a lease then waits for it to come back).
        // A write the caller gave up on is abandoned: should the server come back before it ran,
        // it rolls back instead of committing what was refused (`storage_failed`). One caught
        // committing at that very moment is committed, and a resend finds it a duplicate.
        let abandoned = SharedFlag()
        let work = Task { try await self.commitLogNow(write, unless: abandoned) }
        let timeout = writeTimeout
        let location = self.location
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LogWritten, any Error>) in
            let answer = Mutex<CheckedContinuation<LogWritten, any Error>?>(continuation)
            let resume = { @Sendable (result: Result<LogWritten, any Error>) in answer.withLock { $0.take() }?.resume(with: result) }
            let timer = Task {
                try await Task.sleep(for: timeout)  // cancelled once the write has answered: no sleeper per submit left behind
                abandoned.set(true)
                resume(.failure(PostgresStoreError("PostgreSQL at \(location) did not answer within \(timeout)")))
            }
            Task {
                let result = await work.result
                timer.cancel()
                resume(result)
            }
        }
    }

    private func commitLogNow(_ write: LogWrite, unless abandoned: SharedFlag) async throws -> LogWritten {
        try await writer.run {
            let logger = self.logger
            if self.gateStale.withLock({ $0 }), let gate = self.gate {
                try await client.withConnection { try await Self.replay(into: gate, $0, logger) }
                self.gateStale.withLock { $0 = false }
            }
            let result: (LogWritten, Committed)
            do {
                let fence = try self.fenceValues()
                result = try await writing(fenced: false) { connection in
                    var head: Int64 = -1
                    var existing: Set<String> = []
                    var held = false
                    let ids = write.events.map(\.id)
                    // The lease's check rides on the statement that locks the head (one round trip).
                    for try await (newest, present, holding) in try await connection.query(
                        """
                        SELECT h.newest, ARRAY(SELECT id FROM activity WHERE id = ANY(\(ids))),
                               \(fence.unfenced) OR club_holds(\(fence.name), \(fence.holder), \(fence.token))
                        FROM activity_head h WHERE h.id = 1 FOR UPDATE OF h
                        """, logger: logger
                    ).decode((Int64, [String], Bool).self) {
                        head = newest
                        existing = Set(present)
                        held = holding
                    }
                    guard held else { throw PostgresStoreError.notHolding(self.location) }
                    guard head >= 0 else { throw PostgresStoreError("the activity log's head row is missing") }
                    guard !abandoned.isSet else { throw PostgresStoreError("abandoned: the caller was told it failed") }
                    let plan = self.decide(write.events, existing: existing, head: head)
                    let written = try await Self.apply(plan, write, connection, logger)
                    return (LogWritten(outcomes: plan.outcomes, journalSeq: written.journalSeq, forgotten: written.forgotten), plan.committed)
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

    public func appendSubmission(journal payload: [UInt8]?, events: [ActivityEvent], receivedAt: Int64) async throws -> (
        journalSeq: Int64?, appended: [AppendOutcome]
    ) {
        let written = try await commitLog(LogWrite(events: events, receivedAt: receivedAt, journal: payload))
        return (written.journalSeq, written.outcomes)
    }

    public func appendActivity(_ events: [ActivityEvent], receivedAt: Int64) async throws -> [AppendOutcome] {
        guard !events.isEmpty else { return [] }
        return try await commitLog(LogWrite(events: events, receivedAt: receivedAt)).outcomes
    }

    public func forgetImports(user: String, system: String, notice: ActivityEvent, receivedAt: Int64) async throws -> Int {
        try await commitLog(LogWrite(events: [notice], receivedAt: receivedAt, forget: (user, system))).forgotten
    }

    public func commitConsumer(_ name: String, offset: Int64, state: [UInt8], raising: [ActivityEvent]) async throws {
        guard raising.isEmpty else {
            _ = try await commitLog(LogWrite(events: raising, receivedAt: Clock.nowMillis(), consumer: (name, offset, state)))
            return
        }
        // Nothing raised: the log is not written, so neither its writer nor the head's lock is
        // needed — the lease's check, state and offset in one statement (atomic on its own).
        let fence = try fenceValues()
        let written = try await single(
            #"""
            WITH ok AS (SELECT \#(fence.unfenced) OR club_holds(\#(fence.name), \#(fence.holder), \#(fence.token)) AS held),
                 cs AS (INSERT INTO consumer_state (name, state) SELECT \#(name), \#(ByteBuffer(bytes: state)) FROM ok WHERE ok.held
                        ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state),
                 o AS (INSERT INTO consumer_offset (name, "offset") SELECT \#(name), \#(offset) FROM ok WHERE ok.held
                       ON CONFLICT (name) DO UPDATE SET "offset" = EXCLUDED."offset")
            SELECT held::int FROM ok
            """#)
        guard written == 1 else { throw PostgresStoreError.notHolding(location) }
    }

    /// The events of a transaction decided: what became of each, the new entries with their
    /// offsets (after `head`), the gate's and the connections' changes.
    struct Plan {
        var outcomes: [AppendOutcome]
        var committed: Committed
        var gated: [Int64]
        var changed: [(user: String, system: String, active: Bool, offset: Int64)]
        var head: Int64
    }

    /// Decides `events` in order: consent first, then duplicates (an id in the log or earlier
    /// in the batch), then the admission gate — as the SQLite engine does.
    private func decide(_ events: [ActivityEvent], existing: Set<String>, head: Int64) -> Plan {
        var seen = existing
        var head = head
        var consent = connections.withLock { $0 }
        var appended: [ActivityEvent] = []
        var gated: [Int64] = []
        var changed: [(user: String, system: String, active: Bool, offset: Int64)] = []
        let outcomes = events.map { e -> AppendOutcome in
            if let refusal = consent.refusal(of: e) { return refusal }
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
                changed.removeAll { $0.user == e.user && $0.system == system.lowercased() }  // one row per key in a statement
                changed.append((e.user, system.lowercased(), active, head))
            }
            appended.append(e.appended(at: head))
            return .new
        }
        return Plan(outcomes: outcomes, committed: Committed(records: appended, connections: consent), gated: gated, changed: changed, head: head)
    }

    /// Writes a decided transaction in one statement (data-modifying CTEs; the parts a write
    /// does not have are empty arrays).
    private static func apply(_ plan: Plan, _ write: LogWrite, _ connection: PostgresConnection, _ logger: Logger) async throws -> (
        journalSeq: Int64?, forgotten: Int
    ) {
        let e = plan.committed.records
        let journal = write.journal.map { [ByteBuffer(bytes: $0)] } ?? []
        let receivedAt = write.receivedAt
        let consumer = write.consumer.map { [$0.name] } ?? []
        let rows = try await connection.query(
            #"""
            WITH j AS (INSERT INTO journal (received_at, payload) SELECT \#(receivedAt), p FROM unnest(\#(journal)) AS p RETURNING seq),
            e AS (INSERT INTO activity ("offset", id, type, user_id, at, received_at, body, sender)
                  SELECT o, i, t, u, a, \#(receivedAt), b, NULLIF(s, '')
                  FROM unnest(\#(e.map(\.offset)), \#(e.map(\.id)), \#(e.map(\.type)), \#(e.map(\.user)), \#(e.map(\.at)),
                              \#(e.map { ByteBuffer(bytes: $0.json) }), \#(e.map { $0.sender ?? "" })) AS e(o, i, t, u, a, b, s)),
            g AS (INSERT INTO gated_event ("offset") SELECT unnest(\#(plan.gated))),
            c AS (INSERT INTO connection (user_id, system, active, "offset")
                  SELECT * FROM unnest(\#(plan.changed.map(\.user)), \#(plan.changed.map(\.system)), \#(plan.changed.map(\.active)),
                                       \#(plan.changed.map(\.offset)))
                  ON CONFLICT (user_id, system) DO UPDATE SET active = EXCLUDED.active, "offset" = EXCLUDED."offset"),
            cs AS (INSERT INTO consumer_state (name, state) SELECT * FROM unnest(\#(consumer), \#(write.consumer.map { [ByteBuffer(bytes: $0.state)] } ?? []))
                   ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state),
            co AS (INSERT INTO consumer_offset (name, "offset") SELECT * FROM unnest(\#(consumer), \#(write.consumer.map { [$0.offset] } ?? []))
                   ON CONFLICT (name) DO UPDATE SET "offset" = EXCLUDED."offset"),
            d AS (DELETE FROM activity WHERE \#(write.forget != nil) AND user_id = \#(write.forget?.user ?? "") AND type = 'workout'
                    AND lower(convert_from(body, 'UTF8')::json ->> 'source') = lower(\#(write.forget?.system ?? ""))
                  RETURNING 1),
            h AS (UPDATE activity_head SET newest = \#(plan.head) WHERE id = 1)
            SELECT (SELECT seq FROM j), (SELECT count(*) FROM d)
            """#, logger: logger)
        var result: (journalSeq: Int64?, forgotten: Int) = (nil, 0)
        for try await (seq, forgotten) in rows.decode((Int64?, Int64).self) { result = (seq, Int(forgotten)) }
        return result
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

    public func activity(after offset: Int64, limit: Int, types: Set<String>) async throws -> ActivityBatch {
        if let recent = tail.read(after: offset, limit: limit, types: types, stretch: ActivityTail.filteredStretch) { return recent }
        let end = min(tail.newest, offset + ActivityTail.filteredStretch)
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
        try await single(#"SELECT "offset" FROM consumer_offset WHERE name = \#(name)"#) ?? 0
    }

    public func commitOffset(_ name: String, _ offset: Int64) async throws {
        let fence = try fenceValues()
        let written = try await single(
            #"""
            WITH ok AS (SELECT \#(fence.unfenced) OR club_holds(\#(fence.name), \#(fence.holder), \#(fence.token)) AS held),
                 o AS (INSERT INTO consumer_offset (name, "offset") SELECT \#(name), \#(offset) FROM ok WHERE ok.held
                       ON CONFLICT (name) DO UPDATE SET "offset" = EXCLUDED."offset")
            SELECT held::int FROM ok
            """#)
        guard written == 1 else { throw PostgresStoreError.notHolding(location) }
    }

    public func consumerState(_ name: String) async throws -> (offset: Int64, state: [UInt8])? {
        let rows = try await client.query(
            #"""
            SELECT COALESCE(o."offset", 0), s.state FROM consumer_state s LEFT JOIN consumer_offset o ON o.name = s.name
            WHERE s.name = \#(name)
            """#, logger: logger)
        for try await (offset, state) in rows.decode((Int64, ByteBuffer).self) { return (offset, state.bytes) }
        return nil
    }

    public func pruneActivity(receivedBefore cutoff: Int64, consumers: [String]) async throws -> Int {
        // Passed by the ledger, the offer stage and every named consumer (one without an offset: none).
        var passed = min(try await ledgerPosition(), try await offersPosition())
        var committed: [String: Int64] = [:]
        for try await (name, offset) in try await client.query(
            #"SELECT name, "offset" FROM consumer_offset WHERE name = ANY(\#(consumers))"#, logger: logger
        ).decode((String, Int64).self) {
            committed[name] = offset
        }
        for name in consumers { passed = min(passed, committed[name] ?? 0) }
        let logger = self.logger
        return try await writing { connection in
            for try await deleted in try await connection.query(
                #"""
                WITH gone AS (
                    DELETE FROM activity WHERE received_at < \#(cutoff) AND "offset" <= \#(passed)
                      AND "offset" NOT IN (SELECT "offset" FROM gated_event)
                    RETURNING 1)
                SELECT count(*) FROM gone
                """#, logger: logger
            ).decode(Int64.self) {
                return Int(deleted)
            }
            return 0
        }
    }
}
