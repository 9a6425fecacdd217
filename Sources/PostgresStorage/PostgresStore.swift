import ClubKernel
import ClubRuntime
import Logging
import NIOCore
import NIOSSL
import Pipeline
import PostgresNIO
import Synchronization
import Users

/// The PostgreSQL engine (`storage.engine: postgres`): the store protocols of the pipelines,
/// their stages and the command operations on one PostgreSQL database, so that the state lives
/// off the host and another instance can take over from it.
///
/// Exactly once as on SQLite: every stage commits its effects and its log position in one
/// transaction. The activity log's writes (appends, submissions, consumer commits that raise
/// events) run one at a time, in this process on ``writer`` and across processes under the row
/// lock of `activity_head`, which also numbers the entries: offsets are gapless and in commit
/// order, as the log's consumers expect.
///
/// Durability: PostgreSQL's default `synchronous_commit = on` — a commit returns once its WAL
/// is flushed on the server, so an acknowledged `submit` survives `kill -9` of clubd and of the
/// server; with a synchronous standby configured, the loss of the server's host too.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Runs the client's connection pool until ``close()``.
    private let running: Task<Void, Never>
    /// The newest activity log entries, for its consumers.
    let tail: ActivityTail
    /// The log's writes, one at a time (the order the tail takes them in).
    let writer = SerialGate()
    /// The users' active connections to external systems, as the log has them.
    let connections: Mutex<Connections>
    /// Decides, in log order, the events whose admission depends on the log; nil: every event is admitted.
    let gate: (any AdmissionGate)?
    /// A transaction that consulted the gate did not commit: the gate is rebuilt before it decides again.
    let gateStale = Mutex(false)
    /// Where it connects, without the password.
    public let location: String
    /// The lease this instance writes under (nil: unfenced — tests and tools reading beside the
    /// holder): every write transaction checks it first (``writing(_:)``).
    let lease: LeaseKeeper?
    /// How long a write of the log (a `submit`) waits for the server before it is refused.
    let writeTimeout: Duration

    /// Connects to the database `url` names, migrates its schema and reads what the log's
    /// writer keeps in memory (the newest offset, the connections, the gate's decisions).
    /// - Parameter connections: the pool's size (at least 2: the log's writer and the others).
    /// - Parameter lease: the daemon's hold on the database, taken before (``LeaseKeeper``):
    ///   every write is fenced by it. Nil opens it unfenced, for reading beside the holder
    ///   (tests, tools).
    /// - Throws: when the server cannot be reached within `connectTimeout` or the schema not migrated.
    public init(
        url: PostgresURL, connections size: Int = 8, tailCapacity: Int = 20_000, gate: (any AdmissionGate)? = nil,
        connectTimeout: Duration = .seconds(10), logger: Logger, lease: LeaseKeeper? = nil
    ) async throws {
        var configuration = try Self.configuration(url)
        configuration.options.maximumConnections = max(2, size)
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = connectTimeout
        if let lease {
            // A holder stopped dead inside a transaction (SIGSTOP, a VM paused) would keep its row
            // locks — the lease's, the log head's — and block the standby taking over: the server
            // ends such a session once it has idled in its transaction for a lease's length.
            let millis = max(1_000, Int(lease.duration.components.seconds * 1_000))
            configuration.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "\(millis)")]
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.location = url.redacted
        self.lease = lease
        writeTimeout = connectTimeout
        // Started at once (not when the executor gets to it): run() marks the pool running before
        // its first suspension, and a query before that would be logged as a misuse.
        running = Task.immediate { await client.run() }
        do {
            try await Self.reachable(client, within: connectTimeout, location: url.redacted)
            try await PostgresSchema.migrate(client, logger: logger)
            let newest = try await client.withConnection { try await Self.newestOffset($0, logger) }
            tail = ActivityTail(nextOffset: newest + 1, capacity: tailCapacity)
            self.connections = Mutex(try await client.withConnection { try await Self.loadConnections($0, logger) })
            self.gate = gate
            if let gate { try await client.withConnection { try await Self.replay(into: gate, $0, logger) } }
        } catch {
            running.cancel()
            throw error
        }
    }

    deinit {
        running.cancel()
    }

    /// Stops the connection pool (idempotent). The lease, if any, is its keeper's to release.
    public func close() async {
        running.cancel()
    }

    /// The client configuration for `url`.
    static func configuration(_ url: PostgresURL) throws -> PostgresClient.Configuration {
        if let socket = url.socketPath {
            return .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
        }
        return .init(host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: try Self.tls(url))
    }

    static func tls(_ url: PostgresURL) throws -> PostgresClient.Configuration.TLS {
        switch url.tls {
        case .disable: return .disable
        case .prefer, .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return url.tls == .prefer ? .prefer(tls) : .require(tls)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }

    /// Runs `body` in a transaction that writes under this instance's lease: it first checks
    /// (and share-locks until the commit) that the lease is still this instance's and running.
    /// - Throws: ``PostgresStoreError`` when it is not (nothing is written).
    /// - Parameter fenced: false when `body` checks the lease itself (in a statement of its own
    ///   work, saving the round trip: ``fenceValues()``).
    @discardableResult
    func writing<T: Sendable>(fenced: Bool = true, _ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                if fenced { try await self.fence(connection) }
                return try await body(connection)
            }
        } catch let error as PostgresTransactionError {
            // The refusal itself, not the transaction's wrapper of it (what health shows).
            if let refusal = error.closureError as? PostgresStoreError, error.rollbackError == nil { throw refusal }
            throw error
        }
    }

    /// What a statement that checks the lease itself binds: the lease's name, this holder and its
    /// token, or `unfenced` true for a store without a lease.
    /// - Throws: ``PostgresStoreError`` when the lease is not held now.
    func fenceValues() throws -> (name: String, holder: String, token: Int64, unfenced: Bool) {
        guard let lease else { return ("", "", 0, true) }
        guard let token = lease.token else { throw PostgresStoreError.notHolding(location) }
        return (lease.name, lease.instance, token, false)
    }

    /// Checks the lease inside the caller's transaction (no lease: nothing to check).
    func fence(_ connection: PostgresConnection) async throws {
        guard lease != nil else { return }
        let fence = try fenceValues()
        var held = false
        for try await holds in try await connection.query(
            "SELECT club_holds(\(fence.name), \(fence.holder), \(fence.token))", logger: logger
        ).decode(Bool.self) {
            held = holds
        }
        guard held else { throw PostgresStoreError.notHolding(location) }
    }

    /// Waits for a first connection, retrying while the server starts, up to `within`.
    static func reachable(_ client: PostgresClient, within: Duration, location: String) async throws {
        let deadline = ContinuousClock.now + within
        while true {
            do {
                try await client.query("SELECT 1")
                return
            } catch {
                if ContinuousClock.now >= deadline {
                    throw PostgresStoreError("cannot reach PostgreSQL at \(location): \(String(reflecting: error))")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// The first column of the first row, or nil when there is none.
    func single(_ query: PostgresQuery) async throws -> Int64? {
        for try await value in try await client.query(query, logger: logger).decode(Int64.self) { return value }
        return nil
    }

    /// Runs `body` in a read-only repeatable-read transaction: several queries see one state,
    /// however the stages commit meanwhile.
    func reading<T: Sendable>(_ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            return try await body(connection)
        }
    }

    static func newestOffset(_ connection: PostgresConnection, _ logger: Logger) async throws -> Int64 {
        for try await newest in try await connection.query("SELECT newest FROM activity_head WHERE id = 1", logger: logger).decode(Int64.self) {
            return newest
        }
        return 0
    }
}

/// A flag one task sets and others read.
final class SharedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set(_ held: Bool) { value.store(held, ordering: .releasing) }
}

/// A failure of the PostgreSQL engine that is not the server's own error.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }

    /// A write refused because this instance does not hold the database's lease (now).
    static func notHolding(_ location: String) -> PostgresStoreError {
        PostgresStoreError("this instance does not hold the lease of the database at \(location) (expired or taken over): nothing written")
    }
}

/// Runs async bodies one at a time, in arrival order (an async mutex: an actor would let a
/// second body in while the first awaits the server).
final class SerialGate: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }

    private let state = Mutex(State())

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if !s.busy {
                    s.busy = true
                    return true
                }
                s.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard s.head < s.waiting.count else {
                s.busy = false
                s.waiting.removeAll(keepingCapacity: true)
                s.head = 0
                return nil
            }
            defer { s.head += 1 }
            return s.waiting[s.head]
        }
        next?.resume()
    }
}

extension ByteBuffer {
    /// The readable bytes, copied once.
    var bytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}

extension PostgresStore: ClubStorage {
    public var engineName: String { "postgres" }
}
