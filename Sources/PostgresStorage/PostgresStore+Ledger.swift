import Bonus
import Logging
import NIOCore
import Offers
import Pipeline
import PostgresNIO

/// The points ledger and the issued offers on PostgreSQL: each stage's effects and the log
/// position they reflect in one transaction, as on SQLite.
extension PostgresStore: BonusStore, OfferStore {
    public func ledgerPosition() async throws -> Int64 {
        try await single(#"SELECT "offset" FROM ledger_position WHERE id = 1"#) ?? 0
    }

    public func commitBonus(
        position: Int64, entries: [LedgerEntry], accounts: [String: [UInt8]],
        lotChanges: [(user: String, change: BonusAccount.LotChange)]
    ) async throws {
        if try await commitBonusAtOnce(position: position, entries: entries, accounts: accounts, lotChanges: lotChanges) { return }
        let logger = self.logger
        try await writing { connection in
            for start in stride(from: 0, to: entries.count, by: Self.rowsPerStatement) {
                let part = entries[start..<min(entries.count, start + Self.rowsPerStatement)]
                try await connection.query(
                    """
                    INSERT INTO ledger (user_id, event, rule, kind, points, at, balance)
                    SELECT u, ev, r, k, p, a, b FROM unnest(\(part.map(\.user)), \(part.map(\.event)), \(part.map(\.rule)), \(part.map(\.kind.rawValue)),
                                         \(part.map { Int64($0.points) }), \(part.map(\.at)), \(part.map { Int64($0.balance) }))
                        WITH ORDINALITY AS e(u, ev, r, k, p, a, b, n) ORDER BY n
                    """, logger: logger)
            }
            try await Self.upsertStates(accounts, into: "bonus_account", connection, logger)
            // In order, one by one: a lot may be written and deleted within one commit.
            for (user, change) in lotChanges {
                switch change {
                case .write(let lot):
                    try await connection.query(
                        """
                        INSERT INTO bonus_lot (user_id, event, rule, remaining, expires_at)
                        VALUES (\(user), \(lot.event), \(lot.rule), \(Int64(lot.remaining)), \(lot.expiresAt))
                        ON CONFLICT (user_id, event, rule) DO UPDATE SET remaining = EXCLUDED.remaining
                        """, logger: logger)
                case .delete(let event, let rule):
                    try await connection.query(
                        "DELETE FROM bonus_lot WHERE user_id = \(user) AND event = \(event) AND rule = \(rule)", logger: logger)
                }
            }
            try await connection.query(
                #"""
                INSERT INTO ledger_position (id, "offset") VALUES (1, \#(position))
                ON CONFLICT (id) DO UPDATE SET "offset" = EXCLUDED."offset"
                """#, logger: logger)
        }
    }

    /// The usual commit — a few entries, accounts and lots — as one statement (data-modifying
    /// CTEs, atomic on its own, the lease's check in it): one round trip instead of one per part.
    /// - Returns: false when the commit is too large for one statement, or changes one lot twice
    ///   (written and deleted: the order matters, and a statement sees no row twice); the caller
    ///   then writes it part by part in a transaction.
    private func commitBonusAtOnce(
        position: Int64, entries: [LedgerEntry], accounts: [String: [UInt8]],
        lotChanges: [(user: String, change: BonusAccount.LotChange)]
    ) async throws -> Bool {
        let limit = Self.rowsPerStatement
        guard entries.count <= limit, accounts.count <= limit, lotChanges.count <= limit else { return false }
        var written: [(user: String, lot: BonusAccount.Lot)] = []
        var deleted: [(user: String, event: String, rule: String)] = []
        var keys: Set<[String]> = []
        for (user, change) in lotChanges {
            switch change {
            case .write(let lot):
                guard keys.insert([user, lot.event, lot.rule]).inserted else { return false }
                written.append((user, lot))
            case .delete(let event, let rule):
                guard keys.insert([user, event, rule]).inserted else { return false }
                deleted.append((user, event, rule))
            }
        }
        let fence = try fenceValues()
        let users = Array(accounts.keys)
        let held = try await single(
            #"""
            WITH ok AS (SELECT \#(fence.unfenced) OR club_holds(\#(fence.name), \#(fence.holder), \#(fence.token)) AS held),
                 l AS (INSERT INTO ledger (user_id, event, rule, kind, points, at, balance)
                       SELECT u, ev, r, k, p, a, b
                       FROM unnest(\#(entries.map(\.user)), \#(entries.map(\.event)), \#(entries.map(\.rule)), \#(entries.map(\.kind.rawValue)),
                                   \#(entries.map { Int64($0.points) }), \#(entries.map(\.at)), \#(entries.map { Int64($0.balance) }))
                            WITH ORDINALITY AS e(u, ev, r, k, p, a, b, n), ok
                       WHERE ok.held ORDER BY n),
                 ac AS (INSERT INTO bonus_account (user_id, state)
                        SELECT u, st FROM unnest(\#(users), \#(users.map { ByteBuffer(bytes: accounts[$0]!) })) AS x(u, st), ok WHERE ok.held
                        ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state),
                 lw AS (INSERT INTO bonus_lot (user_id, event, rule, remaining, expires_at)
                        SELECT u, ev, r, rem, ex
                        FROM unnest(\#(written.map(\.user)), \#(written.map(\.lot.event)), \#(written.map(\.lot.rule)),
                                    \#(written.map { Int64($0.lot.remaining) }), \#(written.map(\.lot.expiresAt)))
                             WITH ORDINALITY AS w(u, ev, r, rem, ex, n), ok
                        WHERE ok.held ORDER BY n
                        ON CONFLICT (user_id, event, rule) DO UPDATE SET remaining = EXCLUDED.remaining),
                 ld AS (DELETE FROM bonus_lot USING ok
                        WHERE ok.held AND (user_id, event, rule) IN
                              (SELECT * FROM unnest(\#(deleted.map(\.user)), \#(deleted.map(\.event)), \#(deleted.map(\.rule))))),
                 p AS (INSERT INTO ledger_position (id, "offset") SELECT 1, \#(position) FROM ok WHERE ok.held
                       ON CONFLICT (id) DO UPDATE SET "offset" = EXCLUDED."offset")
            SELECT held::int FROM ok
            """#)
        guard held == 1 else { throw PostgresStoreError.notHolding(location) }
        return true
    }

    /// Writes each user's state into `table` (`user_id`, `state`), replacing what was there.
    private static func upsertStates(_ states: [String: [UInt8]], into table: String, _ connection: PostgresConnection, _ logger: Logger)
        async throws
    {
        let users = Array(states.keys)
        for start in stride(from: 0, to: users.count, by: rowsPerStatement) {
            let part = users[start..<min(users.count, start + rowsPerStatement)]
            try await connection.query(
                """
                INSERT INTO \(unescaped: table) (user_id, state) SELECT * FROM unnest(\(Array(part)), \(part.map { ByteBuffer(bytes: states[$0]!) }))
                ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state
                """, logger: logger)
        }
    }

    public func bonusAccounts() async throws -> [String: (state: [UInt8], lots: [BonusAccount.Lot])] {
        let logger = self.logger
        return try await reading { connection in
            var lots: [String: [BonusAccount.Lot]] = [:]
            for try await (user, event, rule, remaining, expiresAt) in try await connection.query(
                "SELECT user_id, event, rule, remaining, expires_at FROM bonus_lot ORDER BY id", logger: logger
            ).decode((String, String, String, Int64, Int64).self) {
                lots[user, default: []].append(BonusAccount.Lot(event: event, rule: rule, remaining: Int(remaining), expiresAt: expiresAt))
            }
            var result: [String: (state: [UInt8], lots: [BonusAccount.Lot])] = [:]
            for try await (user, state) in try await connection.query("SELECT user_id, state FROM bonus_account", logger: logger)
                .decode((String, ByteBuffer).self)
            {
                result[user] = (state.bytes, lots[user] ?? [])
            }
            return result
        }
    }

    public func ledgerChanges(after: Int64, limit: Int) async throws -> [(seq: Int64, entry: LedgerEntry)] {
        var changes: [(seq: Int64, entry: LedgerEntry)] = []
        let rows = try await client.query(
            "SELECT seq, user_id, event, rule, kind, points, at, balance FROM ledger WHERE seq > \(after) ORDER BY seq LIMIT \(Int64(limit))",
            logger: logger)
        for try await (seq, user, event, rule, kind, points, at, balance) in rows.decode(
            (Int64, String, String, String, String, Int64, Int64, Int64).self)
        {
            changes.append(
                (
                    seq,
                    LedgerEntry(
                        user: user, event: event, rule: rule, kind: LedgerEntry.Kind(rawValue: kind) ?? .award, points: Int(points), at: at,
                        balance: Int(balance))
                ))
        }
        return changes
    }

    public func ledger(user: String, limit: Int) async throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        let rows = try await client.query(
            """
            SELECT event, rule, kind, points, at, balance FROM
                (SELECT * FROM ledger WHERE user_id = \(user) ORDER BY seq DESC LIMIT \(Int64(limit))) AS newest
            ORDER BY seq
            """, logger: logger)
        for try await (event, rule, kind, points, at, balance) in rows.decode((String, String, String, Int64, Int64, Int64).self) {
            entries.append(
                LedgerEntry(
                    user: user, event: event, rule: rule, kind: LedgerEntry.Kind(rawValue: kind) ?? .award, points: Int(points), at: at,
                    balance: Int(balance)))
        }
        return entries
    }

    // MARK: Offers

    public func offerChanges(after: Int64, limit: Int) async throws -> [(seq: Int64, members: [UInt8])] {
        var changes: [(seq: Int64, members: [UInt8])] = []
        let rows = try await client.query(
            "SELECT f.seq, o.body FROM offer_feed f JOIN offer o ON o.code = f.code WHERE f.seq > \(after) ORDER BY f.seq LIMIT \(Int64(limit))",
            logger: logger)
        for try await (seq, body) in rows.decode((Int64, ByteBuffer).self) { changes.append((seq, body.bytes)) }
        return changes
    }

    public func offersPosition() async throws -> Int64 {
        try await single(#"SELECT "offset" FROM offers_position WHERE id = 1"#) ?? 0
    }

    public func offersState() async throws -> OffersState {
        let logger = self.logger
        return try await reading { connection in
            var state = OffersState(position: 0, facts: [:], occurrences: [:])
            for try await position in try await connection.query(#"SELECT "offset" FROM offers_position WHERE id = 1"#, logger: logger)
                .decode(Int64.self)
            {
                state.position = position
            }
            for try await (user, facts) in try await connection.query("SELECT user_id, state FROM offer_facts", logger: logger)
                .decode((String, ByteBuffer).self)
            {
                state.facts[user] = facts.bytes
            }
            for try await (rule, occurrence) in try await connection.query("SELECT rule, occurrence FROM offer_schedule", logger: logger)
                .decode((String, Int64).self)
            {
                state.occurrences[rule] = occurrence
            }
            return state
        }
    }

    public func commitOffers(position: Int64?, offers: [IssuedOffer], facts: [String: [UInt8]], occurrences: [String: Int64]) async throws {
        if try await commitOffersAtOnce(position: position, offers: offers, facts: facts, occurrences: occurrences) { return }
        let logger = self.logger
        try await writing { connection in
            for o in offers {
                try await connection.query(
                    """
                    INSERT INTO offer (code, rule, audience, audience_key, region, trigger, issued_at, valid_until, body)
                    VALUES (\(o.code), \(o.rule), \(o.audience.kind), \(o.audience.key), \(o.region), \(o.trigger), \(o.issuedAt),
                            \(o.validUntil), \(ByteBuffer(bytes: o.members)))
                    """, logger: logger)
                try await connection.query("INSERT INTO offer_feed (code) VALUES (\(o.code))", logger: logger)
            }
            try await Self.upsertStates(facts, into: "offer_facts", connection, logger)
            for (rule, occurrence) in occurrences {
                try await connection.query(
                    """
                    INSERT INTO offer_schedule (rule, occurrence) VALUES (\(rule), \(occurrence))
                    ON CONFLICT (rule) DO UPDATE SET occurrence = EXCLUDED.occurrence
                    """, logger: logger)
            }
            if let position {
                try await connection.query(
                    #"""
                    INSERT INTO offers_position (id, "offset") VALUES (1, \#(position))
                    ON CONFLICT (id) DO UPDATE SET "offset" = EXCLUDED."offset"
                    """#, logger: logger)
            }
        }
    }

    /// The usual commit of the offer stage as one statement, as ``commitBonusAtOnce``.
    /// - Returns: false when it is too large for one statement.
    private func commitOffersAtOnce(position: Int64?, offers: [IssuedOffer], facts: [String: [UInt8]], occurrences: [String: Int64]) async throws
        -> Bool
    {
        let limit = Self.rowsPerStatement
        guard offers.count <= limit, facts.count <= limit, occurrences.count <= limit else { return false }
        let fence = try fenceValues()
        let users = Array(facts.keys)
        let rules = Array(occurrences.keys)
        let held = try await single(
            #"""
            WITH ok AS (SELECT \#(fence.unfenced) OR club_holds(\#(fence.name), \#(fence.holder), \#(fence.token)) AS held),
                 o AS (INSERT INTO offer (code, rule, audience, audience_key, region, trigger, issued_at, valid_until, body)
                       SELECT c, r, au, ak, rg, t, i, v, b
                       FROM unnest(\#(offers.map(\.code)), \#(offers.map(\.rule)), \#(offers.map(\.audience.kind)), \#(offers.map(\.audience.key)),
                                   \#(offers.map(\.region)), \#(offers.map(\.trigger)), \#(offers.map(\.issuedAt)), \#(offers.map(\.validUntil)),
                                   \#(offers.map { ByteBuffer(bytes: $0.members) })) AS x(c, r, au, ak, rg, t, i, v, b), ok
                       WHERE ok.held),
                 f AS (INSERT INTO offer_feed (code)
                       SELECT c FROM unnest(\#(offers.map(\.code))) WITH ORDINALITY AS x(c, n), ok WHERE ok.held ORDER BY n),
                 fa AS (INSERT INTO offer_facts (user_id, state)
                        SELECT u, st FROM unnest(\#(users), \#(users.map { ByteBuffer(bytes: facts[$0]!) })) AS x(u, st), ok WHERE ok.held
                        ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state),
                 sc AS (INSERT INTO offer_schedule (rule, occurrence)
                        SELECT r, oc FROM unnest(\#(rules), \#(rules.map { occurrences[$0]! })) AS x(r, oc), ok WHERE ok.held
                        ON CONFLICT (rule) DO UPDATE SET occurrence = EXCLUDED.occurrence),
                 p AS (INSERT INTO offers_position (id, "offset") SELECT 1, \#(position ?? 0) FROM ok WHERE ok.held AND \#(position != nil)
                       ON CONFLICT (id) DO UPDATE SET "offset" = EXCLUDED."offset")
            SELECT held::int FROM ok
            """#)
        guard held == 1 else { throw PostgresStoreError.notHolding(location) }
        return true
    }

    public func offerCounters() async throws -> OfferEngine.Counters {
        let logger = self.logger
        return try await reading { connection in
            var counters = OfferEngine.Counters()
            for try await (rule, count) in try await connection.query("SELECT rule, count(*) FROM offer GROUP BY rule", logger: logger)
                .decode((String, Int64).self)
            {
                counters.issued[rule] = Int(count)
            }
            for try await (rule, region, count) in try await connection.query(
                "SELECT rule, region, count(*) FROM offer WHERE region != '' GROUP BY rule, region", logger: logger
            ).decode((String, String, Int64).self) {
                counters.issuedInRegion[rule, default: [:]][region] = Int(count)
            }
            for try await (rule, kind, key, issued) in try await connection.query(
                "SELECT rule, audience, audience_key, max(issued_at) FROM offer GROUP BY rule, audience, audience_key", logger: logger
            ).decode((String, String, String, Int64).self) {
                guard let audience = IssuedOffer.Audience(kind: kind, key: key) else { continue }
                counters.lastIssued[rule, default: [:]][audience] = issued
            }
            return counters
        }
    }

    public func validOffers(user: String, region: String?, now: Int64, limit: Int) async throws -> [[UInt8]] {
        var offers: [[UInt8]] = []
        let rows = try await client.query(
            """
            SELECT body FROM offer
            WHERE ((audience = 'user' AND audience_key = \(user)) OR (audience = 'region' AND audience_key = \(region ?? ""))
                   OR (audience = 'all' AND audience_key = ''))
              AND valid_until > \(now) AND issued_at <= \(now)
            ORDER BY issued_at DESC, code LIMIT \(Int64(limit))
            """, logger: logger)
        for try await body in rows.decode(ByteBuffer.self) { offers.append(body.bytes) }
        return offers
    }
}
