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
    /// Holds the database's ownership lock until ``close()``.
    private let ownership: Task<Void, Never>?
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
    /// Whether this instance holds the database's ownership lock now (always, for a store
    /// opened without owning it): the log is written only while it does.
    let owned = HeldFlag()
    private let owning: Bool
    var isOwned: Bool { !owning || owned.isSet }
    /// How long a write of the log (a `submit`) waits for the server before it is refused.
    let writeTimeout: Duration

    /// Connects to the database `url` names, migrates its schema and reads what the log's
    /// writer keeps in memory (the newest offset, the connections, the gate's decisions).
    /// - Parameter connections: the pool's size (at least 2: the log's writer and the others).
    /// - Parameter owning: take the database for this instance (the daemon); false opens it
    ///   beside its owner, for reading only (tests, tools).
    /// - Throws: when the server cannot be reached within `connectTimeout` or the schema not migrated.
    public init(
        url: PostgresURL, connections size: Int = 8, tailCapacity: Int = 20_000, gate: (any AdmissionGate)? = nil,
        connectTimeout: Duration = .seconds(10), logger: Logger, owning: Bool = true
    ) async throws {
        var configuration: PostgresClient.Configuration
        if let socket = url.socketPath {
            configuration = .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
        } else {
            configuration = .init(
                host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: try Self.tls(url))
        }
        configuration.options.maximumConnections = max(2, size) + 1  // one holds the ownership lock
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = connectTimeout
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        self.location = url.redacted
        self.owning = owning
        writeTimeout = connectTimeout
        // Started at once (not when the executor gets to it): run() marks the pool running before
        // its first suspension, and a query before that would be logged as a misuse.
        running = Task.immediate { await client.run() }
        var holder: Task<Void, Never>?
        do {
            try await Self.reachable(client, within: connectTimeout, location: url.redacted)
            holder = owning ? try await Self.own(client, location: url.redacted, owned: owned, logger: logger) : nil
            ownership = holder
            try await PostgresSchema.migrate(client, logger: logger)
            let newest = try await client.withConnection { try await Self.newestOffset($0, logger) }
            tail = ActivityTail(nextOffset: newest + 1, capacity: tailCapacity)
            self.connections = Mutex(try await client.withConnection { try await Self.loadConnections($0, logger) })
            self.gate = gate
            if let gate { try await client.withConnection { try await Self.replay(into: gate, $0, logger) } }
        } catch {
            holder?.cancel()
            running.cancel()
            throw error
        }
    }

    deinit {
        ownership?.cancel()
        running.cancel()
    }

    /// Releases the database (another instance may take it at once) and stops the
    /// connection pool (idempotent).
    public func close() async {
        ownership?.cancel()
        await ownership?.value
        running.cancel()
    }

    /// The advisory lock that makes an instance the database's only one ("clubd-1").
    static let ownerKey: Int64 = 0x636c_7562_642d_31

    /// Holds the database for this instance, on a connection of the pool kept for it until the
    /// store closes (PostgreSQL releases the lock when the session ends: a killed instance's
    /// lock goes with its connection). Several instances sharing one database by user partitions
    /// are not built yet: until then a second instance is refused instead of corrupting the log's
    /// order and its consumers' state.
    /// - Returns: the task holding the lock.
    private static func own(_ client: PostgresClient, location: String, owned flag: HeldFlag, logger: Logger) async throws -> Task<Void, Never> {
        let (outcome, report) = AsyncStream<Result<Void, any Error>>.makeStream()
        let holder = Task {
            var taken = false  // once: a later loss is retaken, the first refusal ends the start
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        var owned = false
                        for try await got in try await connection.query("SELECT pg_try_advisory_lock(\(ownerKey))", logger: logger).decode(Bool.self) {
                            owned = got
                        }
                        guard owned else {
                            throw PostgresStoreError("another clubd instance holds the database at \(location): one instance per database (several sharing one by user partitions are not built yet)")
                        }
                        if taken { logger.notice("PostgreSQL: the database's ownership lock is held again") }
                        taken = true
                        flag.set(true)
                        report.yield(.success(()))
                        // Kept until the store closes; a broken connection ends the hold (and the session's lock).
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(500))
                            if Task.isCancelled { break }
                            do {
                                try await connection.query("SELECT 1", logger: logger)
                            } catch {
                                flag.set(false)
                                throw error
                            }
                        }
                        try? await connection.query("SELECT pg_advisory_unlock(\(ownerKey))", logger: logger)
                    }
                } catch {
                    guard taken else {
                        report.yield(.failure(error))
                        break
                    }
                    if Task.isCancelled { break }
                    logger.error("PostgreSQL: the database's ownership lock was lost; taking it again", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            report.finish()
        }
        for await result in outcome {
            switch result {
            case .success: return holder  // later reports (a lock taken again) are not awaited
            case .failure(let error): throw error
            }
        }
        throw PostgresStoreError("cannot take the database at \(location)")
    }

    private static func tls(_ url: PostgresURL) throws -> PostgresClient.Configuration.TLS {
        switch url.tls {
        case .disable: return .disable
        case .prefer, .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return url.tls == .prefer ? .prefer(tls) : .require(tls)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }

    /// Waits for a first connection, retrying while the server starts, up to `within`.
    private static func reachable(_ client: PostgresClient, within: Duration, location: String) async throws {
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

/// Whether the ownership lock is held now: set by its holder task, read by every write.
final class HeldFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set(_ held: Bool) { value.store(held, ordering: .releasing) }
}

/// A failure of the PostgreSQL engine that is not the server's own error.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
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
