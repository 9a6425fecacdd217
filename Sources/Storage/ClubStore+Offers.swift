import Foundation
import GRDB
import Offers

/// Issued offers, in their own SQLite file: the offer stage commits the offers an event
/// issued, the facts it learned and its log position in one transaction, so that after a
/// crash every event has its effect once and caps and budgets hold exactly.
extension ClubStore {
    static var offersMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-offers") { db in
            try db.execute(
                sql: """
                    CREATE TABLE offers_position (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        "offset" INTEGER NOT NULL);
                    CREATE TABLE offer (
                        code TEXT PRIMARY KEY,
                        rule TEXT NOT NULL,
                        audience TEXT NOT NULL,
                        audience_key TEXT NOT NULL,
                        region TEXT NOT NULL,
                        trigger TEXT NOT NULL,
                        issued_at INTEGER NOT NULL,
                        valid_until INTEGER NOT NULL,
                        body BLOB NOT NULL) WITHOUT ROWID;
                    CREATE INDEX offer_by_audience ON offer (audience, audience_key, valid_until);
                    CREATE TABLE offer_facts (
                        user TEXT PRIMARY KEY,
                        state BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE offer_schedule (
                        rule TEXT PRIMARY KEY,
                        occurrence INTEGER NOT NULL) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-offer-feed") { db in
            // The order offers were issued in, for a consumer that delivers them elsewhere (the
            // shop adapter reads `offers.changes` after its position): one row per offer.
            try db.execute(
                sql: """
                    CREATE TABLE offer_feed (seq INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL UNIQUE);
                    INSERT INTO offer_feed (code) SELECT code FROM offer ORDER BY issued_at, code;
                    """)
        }
        return migrator
    }

    /// Offers issued after feed position `after`, in the order they were issued: (seq, the
    /// offer's JSON members), at most `limit`.
    public func offerChanges(after: Int64, limit: Int) async throws -> [(seq: Int64, members: [UInt8])] {
        try await offersPool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT f.seq, o.body FROM offer_feed f JOIN offer o ON o.code = f.code WHERE f.seq > ? ORDER BY f.seq LIMIT ?",
                arguments: [after, limit]
            ).map { ($0[0], [UInt8]($0[1] as Data)) }
        }
    }

    /// The activity log offset up to which the offer stage has committed its effects.
    public func offersPosition() async throws -> Int64 {
        try await offersPool.read(Self.offersPosition)
    }

    private static func offersPosition(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: #"SELECT "offset" FROM offers_position WHERE id = 1"#) ?? 0
    }

    public func offersState() async throws -> OffersState {
        try await offersPool.read { db in
            var state = OffersState(position: try Self.offersPosition(db), facts: [:], occurrences: [:])
            for row in try Row.fetchAll(db, sql: "SELECT user, state FROM offer_facts") {
                state.facts[row["user"]] = [UInt8](row["state"] as Data)
            }
            for row in try Row.fetchAll(db, sql: "SELECT rule, occurrence FROM offer_schedule") {
                state.occurrences[row["rule"]] = row["occurrence"]
            }
            return state
        }
    }

    /// Commits the offer stage's work atomically. `position` nil leaves the log position
    /// (offers issued by a schedule, not by the log).
    public func commitOffers(position: Int64?, offers: [IssuedOffer], facts: [String: [UInt8]], occurrences: [String: Int64]) async throws {
        try await offersPool.write { db in
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO offer (code, rule, audience, audience_key, region, trigger, issued_at, valid_until, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            let feed = try db.cachedStatement(sql: "INSERT INTO offer_feed (code) VALUES (?)")
            for o in offers {
                try insert.execute(arguments: [
                    o.code, o.rule, o.audience.kind, o.audience.key, o.region, o.trigger, o.issuedAt, o.validUntil, Data(o.members),
                ])
                try feed.execute(arguments: [o.code])
            }
            let save = try db.cachedStatement(sql: "INSERT OR REPLACE INTO offer_facts (user, state) VALUES (?, ?)")
            for (user, state) in facts { try save.execute(arguments: [user, Data(state)]) }
            for (rule, occurrence) in occurrences {
                try db.execute(sql: "INSERT OR REPLACE INTO offer_schedule (rule, occurrence) VALUES (?, ?)", arguments: [rule, occurrence])
            }
            if let position {
                try db.execute(sql: #"INSERT OR REPLACE INTO offers_position (id, "offset") VALUES (1, ?)"#, arguments: [position])
            }
        }
    }

    /// What caps and budgets count, summarised from every issued offer by SQLite.
    public func offerCounters() async throws -> OfferEngine.Counters {
        try await offersPool.read { db in
            var counters = OfferEngine.Counters()
            for row in try Row.fetchAll(db, sql: "SELECT rule, COUNT(*) FROM offer GROUP BY rule") {
                counters.issued[row[0]] = row[1]
            }
            for row in try Row.fetchAll(db, sql: "SELECT rule, region, COUNT(*) FROM offer WHERE region != '' GROUP BY rule, region") {
                counters.issuedInRegion[row[0], default: [:]][row[1]] = row[2]
            }
            for row in try Row.fetchAll(
                db, sql: "SELECT rule, audience, audience_key, MAX(issued_at) FROM offer GROUP BY rule, audience, audience_key")
            {
                guard let audience = IssuedOffer.Audience(kind: row[1], key: row[2]) else { continue }
                counters.lastIssued[row[0], default: [:]][audience] = row[3]
            }
            return counters
        }
    }

    /// The offers valid at `now` for a user in `region`: targeted at them, for their region,
    /// and for everyone; newest first. Each is a JSON object's members.
    public func validOffers(user: String, region: String?, now: Int64, limit: Int = 500) async throws -> [[UInt8]] {
        try await offersPool.read { db in
            try Data.fetchAll(
                db,
                sql: """
                    SELECT body FROM offer
                    WHERE ((audience = 'user' AND audience_key = ?) OR (audience = 'region' AND audience_key = ?)
                           OR (audience = 'all' AND audience_key = ''))
                      AND valid_until > ? AND issued_at <= ?
                    ORDER BY issued_at DESC, code LIMIT ?
                    """, arguments: [user, region ?? "", now, now, limit]
            ).map { [UInt8]($0) }
        }
    }
}
