import ClubRuntime
import Logging
import PostgresNIO
import Synchronization

/// Where an instance takes its traffic: what a standby's relay connects to.
public struct LeaseEndpoints: Sendable, Equatable, CustomStringConvertible {
    public var ingest: String
    public var command: String
    public var publish: String

    public init(ingest: String, command: String, publish: String) {
        self.ingest = ingest
        self.command = command
        self.publish = publish
    }

    public var description: String { "ingest \(ingest), command \(command), publish \(publish)" }
}

/// An instance on the database, as it last said (``LeaseKeeper/heartbeat(standby:)``).
public struct SeenInstance: Sendable, Equatable {
    public var instance: String
    /// `holder` or `standby`.
    public var role: String
    /// How long ago, by the server's clock.
    public var seenMillisAgo: Int64
}

/// The instance holding a lease, as the table has it.
public struct LeaseHolder: Sendable, Equatable {
    public var instance: String
    public var token: Int64
    public var endpoints: LeaseEndpoints
    /// How long the lease still runs by the server's clock (zero or less: expired).
    public var remaining: Duration
}

/// One instance's hold on the database's work (table `club_lease`): several clubd may share a
/// PostgreSQL database; the one holding the lease runs the pipelines and stages, the others stand
/// by (and relay to it) until it stops or dies.
///
/// - A lease runs `duration` by the **server's** clock (no trust in the hosts' clocks) and is
///   renewed every third of it. A holder that stops releases it at once; a killed one's expires
///   within `duration` of its last renewal.
/// - Every take-over raises the **fencing token**. The store checks holder, token and expiry in
///   every write transaction (`club_holds`, a shared row lock until the commit, so a take-over
///   waits for the writes in flight): an instance that was paused past its lease and taken over
///   cannot write another row, whatever it believes.
/// - A renewal that finds another holder or token ends the hold (``keep()`` returns `.lost`); one
///   that cannot reach the server keeps trying (the fence refuses writes past the expiry meanwhile,
///   and the lease is renewed when the server is back, if no one took it).
public final class LeaseKeeper: Sendable {
    /// The lease that carries all the work of one database.
    public static let work = "work"
    /// Where renewals run: threads of their own.
    private static let renewals = DispatchTaskExecutor(label: "clubd-lease")

    public let name: String
    public let instance: String
    public let duration: Duration
    public let endpoints: LeaseEndpoints
    let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>
    private let heldToken = Atomic<Int64>(0)  // 0: not held
    /// Renewing the lease, from ``startKeeping()`` until ``release()``.
    private let keeping = Mutex<Task<End, Never>?>(nil)

    /// Connects to the database `url` names and migrates its schema.
    /// - Throws: when the server cannot be reached within `connectTimeout`.
    public init(
        url: PostgresURL, instance: String, duration: Duration, endpoints: LeaseEndpoints, name: String = LeaseKeeper.work,
        connectTimeout: Duration = .seconds(10), logger: Logger
    ) async throws {
        var configuration = try PostgresStore.configuration(url)
        configuration.options.maximumConnections = 2
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = connectTimeout
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.name = name
        self.instance = instance
        self.duration = duration
        self.endpoints = endpoints
        running = Task.immediate { await client.run() }
        do {
            try await PostgresStore.reachable(client, within: connectTimeout, location: url.redacted)
            try await PostgresSchema.migrate(client, logger: logger)
        } catch {
            running.cancel()
            throw error
        }
    }

    deinit { running.cancel() }

    /// The token this instance holds the lease with, or nil while it does not.
    public var token: Int64? {
        let token = heldToken.load(ordering: .acquiring)
        return token > 0 ? token : nil
    }

    private var seconds: Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

    /// Takes the lease when it is free, expired, or this instance's own (a restart takes it back
    /// at once, with a new token that fences off the process it replaces).
    /// - Returns: whether this instance holds it now.
    public func tryTake() async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO club_lease (name, holder, token, expires_at, ingest, command, publish)
            VALUES (\(name), \(instance), 1, now() + make_interval(secs => \(seconds)), \(endpoints.ingest), \(endpoints.command),
                    \(endpoints.publish))
            ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = club_lease.token + 1, expires_at = EXCLUDED.expires_at,
                ingest = EXCLUDED.ingest, command = EXCLUDED.command, publish = EXCLUDED.publish
            WHERE club_lease.expires_at <= now() OR club_lease.holder = EXCLUDED.holder
            RETURNING token
            """, logger: logger)
        for try await token in rows.decode(Int64.self) {
            heldToken.store(token, ordering: .releasing)
            logger.notice("lease taken: this instance does the work", metadata: ["lease": "\(name)", "token": "\(token)"])
            return true
        }
        return false
    }

    /// Who holds the lease now (nil: no instance ever took it).
    public func holder() async throws -> LeaseHolder? {
        let rows = try await client.query(
            """
            SELECT holder, token, ingest, command, publish, (extract(epoch FROM expires_at - now()) * 1000)::bigint
            FROM club_lease WHERE name = \(name)
            """, logger: logger)
        for try await (holder, token, ingest, command, publish, remaining) in rows.decode((String, Int64, String, String, String, Int64).self) {
            return LeaseHolder(
                instance: holder, token: token, endpoints: LeaseEndpoints(ingest: ingest, command: command, publish: publish),
                remaining: .milliseconds(remaining))
        }
        return nil
    }

    /// How a hold ended.
    public enum End: Sendable, Equatable {
        /// Another instance took the lease (this one was paused or cut off past its expiry).
        case lost
        /// The task keeping it was cancelled.
        case cancelled
    }

    /// Starts renewing the lease at once — before the state is restored, which may take longer
    /// than the lease runs — until ``release()`` or until it is lost (``kept()`` says which).
    public func startKeeping() {
        keeping.withLock { task in
            if let running = task, !running.isCancelled { return }
            // Off the cooperative pool: stages busy on every thread of it must not delay a renewal
            // past the lease (seen in a loaded test process: the lease ran out under its holder).
            task = Task(executorPreference: Self.renewals) { await self.keep() }
        }
    }

    /// Waits until the hold ends: lost, or stopped (``stopKeeping()``: `.cancelled`).
    public func kept() async -> End {
        guard let task = keeping.withLock({ $0 }) else { return .cancelled }
        return await task.value
    }

    /// Stops the renewals (the lease runs out unless ``release()`` gives it up first).
    public func stopKeeping() {
        keeping.withLock { $0 }?.cancel()
    }

    /// The instances seen within three leases, as of the holder's last renewal (for `health`:
    /// read from memory, so it answers while the server does not).
    public var instances: [SeenInstance] { seen.withLock { $0 } }
    private let seen = Mutex<[SeenInstance]>([])

    /// Says this instance is alive, in its role; the holder also reads who else is.
    public func heartbeat(standby: Bool) async throws {
        try await client.query(
            """
            INSERT INTO club_instance (instance, role, seen_at) VALUES (\(instance), \(standby ? "standby" : "holder"), now())
            ON CONFLICT (instance) DO UPDATE SET role = EXCLUDED.role, seen_at = EXCLUDED.seen_at
            """, logger: logger)
        guard !standby else { return }
        var found: [SeenInstance] = []
        for try await (instance, role, ago) in try await client.query(
            """
            SELECT instance, role, (extract(epoch FROM now() - seen_at) * 1000)::bigint FROM club_instance
            WHERE seen_at > now() - make_interval(secs => \(seconds * 3)) ORDER BY instance
            """, logger: logger
        ).decode((String, String, Int64).self) {
            found.append(SeenInstance(instance: instance, role: role, seenMillisAgo: ago))
        }
        seen.withLock { $0 = found }
    }

    /// Forgets this instance's heartbeat (it stops).
    public func forget() async {
        _ = try? await client.query("DELETE FROM club_instance WHERE instance = \(instance)", logger: logger)
    }

    /// Renews the lease every third of its duration until cancelled or lost.
    func keep() async -> End {
        guard let token else { return .lost }
        try? await heartbeat(standby: false)
        while !Task.isCancelled {
            try? await Task.sleep(for: duration / 3)
            if Task.isCancelled { break }
            do {
                let rows = try await client.query(
                    """
                    UPDATE club_lease SET expires_at = now() + make_interval(secs => \(seconds))
                    WHERE name = \(name) AND holder = \(instance) AND token = \(token) RETURNING token
                    """, logger: logger)
                var renewed = false
                for try await _ in rows.decode(Int64.self) { renewed = true }
                if !renewed {
                    heldToken.store(0, ordering: .releasing)
                    logger.critical("lease lost: another instance took it", metadata: ["lease": "\(name)", "token": "\(token)"])
                    return .lost
                }
            } catch {
                logger.error("lease not renewed; trying again", metadata: ["lease": "\(name)", "error": "\(String(reflecting: error))"])
            }
            // After the renewal, which must not wait for it.
            try? await heartbeat(standby: false)
        }
        return .cancelled
    }

    /// Gives the lease up (a standby takes it at once); after the last write of this instance.
    public func release() async {
        if let task = keeping.withLock({ $0 }) {
            task.cancel()
            _ = await task.value
        }
        guard let token else { return }
        heldToken.store(0, ordering: .releasing)
        do {
            try await client.query(
                "UPDATE club_lease SET expires_at = now() WHERE name = \(name) AND holder = \(instance) AND token = \(token)",
                logger: logger)
            logger.notice("lease released", metadata: ["lease": "\(name)", "token": "\(token)"])
        } catch {
            logger.error("lease not released; it expires by itself", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Stops the keeper's connections.
    public func close() {
        running.cancel()
    }
}
