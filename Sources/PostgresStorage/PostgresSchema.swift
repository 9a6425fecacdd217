import Logging
import PostgresNIO

/// The PostgreSQL engine's tables, created and changed by numbered migrations. Each runs in
/// its own transaction under an advisory lock, so instances that start together migrate once;
/// `club_migration` records the versions applied.
///
/// The same tables as SQLite's three files (docs/storage.md), in one database: the journal of
/// acknowledged telemetry, snapshots, window history, the telemetry history, the activity log
/// with its consumers' offsets and states, the ledger and the offers. User ids are `user_id`
/// (`user` is reserved in PostgreSQL); every number is a `bigint`.
enum PostgresSchema {
    /// The advisory lock key the migrations run under ("clubd" in ASCII).
    static let lockKey: Int64 = 0x636c_7562_64

    static let migrations: [(version: Int64, sql: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE journal (
                    seq bigserial PRIMARY KEY,
                    received_at bigint NOT NULL,
                    payload bytea NOT NULL)
                """,
                """
                CREATE TABLE snapshot_slice (
                    name text NOT NULL,
                    idx bigint NOT NULL,
                    state bytea NOT NULL,
                    PRIMARY KEY (name, idx))
                """,
                """
                CREATE TABLE snapshot_meta (
                    id int PRIMARY KEY CHECK (id = 1),
                    taken_at bigint NOT NULL,
                    journal_position bigint NOT NULL)
                """,
                """
                CREATE TABLE snapshot_entry (
                    part text NOT NULL,
                    key text NOT NULL,
                    state bytea NOT NULL,
                    PRIMARY KEY (part, key))
                """,
                """
                CREATE TABLE window_history (
                    pipeline text NOT NULL,
                    user_id text NOT NULL,
                    start bigint NOT NULL,
                    "end" bigint NOT NULL,
                    result bytea NOT NULL,
                    PRIMARY KEY (user_id, pipeline, start))
                """,
                """
                CREATE TABLE activity (
                    "offset" bigint PRIMARY KEY,
                    id text NOT NULL UNIQUE,
                    type text NOT NULL,
                    user_id text NOT NULL,
                    at bigint NOT NULL,
                    received_at bigint NOT NULL,
                    body bytea NOT NULL,
                    sender text)
                """,
                "CREATE INDEX activity_by_user ON activity (user_id, type)",
                "CREATE INDEX activity_by_received ON activity (received_at)",
                // The log's head: the newest offset given out; its row lock orders the log's writers.
                "CREATE TABLE activity_head (id int PRIMARY KEY CHECK (id = 1), newest bigint NOT NULL)",
                "INSERT INTO activity_head (id, newest) VALUES (1, 0)",
                #"CREATE TABLE consumer_offset (name text PRIMARY KEY, "offset" bigint NOT NULL)"#,
                "CREATE TABLE consumer_state (name text PRIMARY KEY, state bytea NOT NULL)",
                """
                CREATE TABLE connection (
                    user_id text NOT NULL,
                    system text NOT NULL,
                    active boolean NOT NULL,
                    "offset" bigint NOT NULL,
                    PRIMARY KEY (user_id, system))
                """,
                #"CREATE TABLE gated_event ("offset" bigint PRIMARY KEY)"#,
                """
                CREATE TABLE history_chunk (
                    id bigserial PRIMARY KEY,
                    user_id text NOT NULL,
                    first_ts bigint NOT NULL,
                    last_ts bigint NOT NULL,
                    samples bigint NOT NULL,
                    data bytea NOT NULL)
                """,
                "CREATE INDEX history_chunk_user ON history_chunk (user_id, last_ts)",
                "CREATE INDEX history_chunk_age ON history_chunk (last_ts)",
                "CREATE TABLE history_meta (id int PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL)",
            ]
                + ["history_minute", "history_day"].flatMap { table in
                    [
                        """
                        CREATE TABLE \(table) (
                            user_id text NOT NULL,
                            start bigint NOT NULL,
                            samples bigint NOT NULL,
                            distance double precision NOT NULL,
                            moving_ms bigint NOT NULL,
                            hr_sum double precision NOT NULL,
                            hr_count bigint NOT NULL,
                            hr_max double precision NOT NULL,
                            PRIMARY KEY (user_id, start))
                        """,
                        "CREATE INDEX \(table)_age ON \(table) (start)",
                    ]
                } + [
                    #"CREATE TABLE ledger_position (id int PRIMARY KEY CHECK (id = 1), "offset" bigint NOT NULL)"#,
                    """
                    CREATE TABLE ledger (
                        seq bigserial PRIMARY KEY,
                        user_id text NOT NULL,
                        event text NOT NULL,
                        rule text NOT NULL,
                        kind text NOT NULL,
                        points bigint NOT NULL,
                        at bigint NOT NULL,
                        balance bigint NOT NULL)
                    """,
                    "CREATE INDEX ledger_by_user ON ledger (user_id, seq)",
                    "CREATE TABLE bonus_account (user_id text PRIMARY KEY, state bytea NOT NULL)",
                    """
                    CREATE TABLE bonus_lot (
                        id bigserial PRIMARY KEY,
                        user_id text NOT NULL,
                        event text NOT NULL,
                        rule text NOT NULL,
                        remaining bigint NOT NULL,
                        expires_at bigint NOT NULL,
                        UNIQUE (user_id, event, rule))
                    """,
                    #"CREATE TABLE offers_position (id int PRIMARY KEY CHECK (id = 1), "offset" bigint NOT NULL)"#,
                    """
                    CREATE TABLE offer (
                        code text PRIMARY KEY,
                        rule text NOT NULL,
                        audience text NOT NULL,
                        audience_key text NOT NULL,
                        region text NOT NULL,
                        trigger text NOT NULL,
                        issued_at bigint NOT NULL,
                        valid_until bigint NOT NULL,
                        body bytea NOT NULL)
                    """,
                    "CREATE INDEX offer_by_audience ON offer (audience, audience_key, valid_until)",
                    "CREATE TABLE offer_facts (user_id text PRIMARY KEY, state bytea NOT NULL)",
                    "CREATE TABLE offer_schedule (rule text PRIMARY KEY, occurrence bigint NOT NULL)",
                    "CREATE TABLE offer_feed (seq bigserial PRIMARY KEY, code text NOT NULL UNIQUE)",
                ]
        ),
        (
            2,
            [
                // Who does the work (`LeaseKeeper`): the holder, its fencing token (raised by every
                // take-over) and until when the lease runs, by the server's clock; the holder's
                // endpoints, for the standbys' relays.
                """
                CREATE TABLE club_lease (
                    name text PRIMARY KEY,
                    holder text NOT NULL,
                    token bigint NOT NULL,
                    expires_at timestamptz NOT NULL,
                    ingest text NOT NULL,
                    command text NOT NULL,
                    publish text NOT NULL)
                """
            ]
        ),
        (
            3,
            [
                // The fence every write of the holder checks: whether `holder` holds `lease` with
                // `token` and it has not expired — the row share-locked until the caller's commit,
                // so a take-over waits for the writes in flight.
                """
                CREATE FUNCTION club_holds(p_lease text, p_holder text, p_token bigint) RETURNS boolean LANGUAGE sql VOLATILE AS $$
                    SELECT EXISTS (SELECT 1 FROM club_lease l WHERE l.name = p_lease AND l.holder = p_holder AND l.token = p_token
                                     AND l.expires_at > now() FOR SHARE)
                $$
                """
            ]
        ),
        (
            4,
            [
                // Every instance on the database, holder or standby, as last seen (LeaseKeeper.heartbeat).
                "CREATE TABLE club_instance (instance text PRIMARY KEY, role text NOT NULL, seen_at timestamptz NOT NULL)"
            ]
        ),
    ]

    /// Applies the migrations the database has not had, in one transaction under the
    /// advisory lock (an instance starting beside another waits for its migration).
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS club_migration (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied: Set<Int64> = []
            for try await version in try await connection.query("SELECT version FROM club_migration", logger: logger).decode(Int64.self) {
                applied.insert(version)
            }
            for (version, statements) in migrations where !applied.contains(version) {
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO club_migration (version) VALUES (\(version))", logger: logger)
                logger.info("PostgreSQL schema migrated", metadata: ["version": "\(version)"])
            }
        }
    }
}
