import ArgumentParser
import ClubClient
import ClubTestKit
import Foundation
import Synchronization
import JSON
import Logging
import NIOCore
import PostgresNIO
import PostgresStorage
import ZMQ

/// The storage engines side by side: the same acknowledged `submit` load (activity events and
/// telemetry) on a clubd keeping its state in SQLite files and on one keeping it in a local
/// PostgreSQL server (fsync and synchronous commit on, as in production), and through a standby
/// instance relaying to the PostgreSQL one — alternated in one run.
struct EnginesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engines", abstract: "Acknowledged submit and telemetry on SQLite and on PostgreSQL, alternated; PostgreSQL / SQLite ratios.")

    @Option(help: "Activity events submitted in batches of 100 per case.") var events = 30_000
    @Option(help: "Events submitted one per request.") var singles = 3_000
    @Option(help: "Telemetry samples submitted in batches of 100.") var samples = 60_000
    @Option(help: "Users the events belong to.") var users = 1_000
    @Option(help: "Concurrent clients of the second case.") var clients = 4
    @Option(help: "Runs of each engine.") var rounds = 2

    func run() throws {
        let server: PostgresServer
        do { server = try PostgresServer(durable: true) } catch { throw ValidationError("cannot start PostgreSQL here: \(error)") }
        defer { server.stop() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let bench = SubmitBench()
        let cases: [(name: String, batch: Int, clients: Int, telemetry: Bool)] = [
            ("activity, batches of 100, 1 client", 100, 1, false), ("activity, batches of 100, \(clients) clients", 100, clients, false),
            ("activity, single events, 1 client", 1, 1, false), ("activity, single events, \(clients) clients", 1, clients, false),
            ("telemetry, batches of 100, 1 client", 100, 1, true),
        ]
        for batch in [100, 1] {
            let count = batch == 1 ? singles : events
            let bare = try bareSQLite(count: count, batch: batch)
            let postgres = try barePostgres(server, count: count, batch: batch)
            print(String(format: "baseline bare inserts, transactions of %3d: SQLite %9.0f, PostgreSQL (postgres-nio) %9.0f rows/s", batch, bare, postgres))
        }
        // "standby": two instances on one database, the load sent to the one standing by, which
        // relays it to the holder (one instance versus two on this machine).
        let rates = try alternate(["sqlite", "postgres", "standby"], rounds: rounds) { round, engine -> [String: Double] in
            let holder = try DaemonProcess(postgres: engine == "sqlite" ? nil : server)
            let rules = try holder.writeBonusRules(SubmitBench.bonusRules)
            try holder.start(extraArguments: ["--log-level", "warning"] + rules)
            defer { holder.terminate() }
            let standby = engine == "standby" ? try DaemonProcess(database: holder.postgresURL) : nil
            try standby?.start(extraArguments: ["--log-level", "warning"])
            defer { standby?.terminate() }
            let daemon = standby ?? holder
            var rates: [String: Double] = [:]
            for (n, c) in cases.enumerated() {
                let prefix = "r\(round)c\(n)"
                let load: [[UInt8]]
                if c.telemetry {
                    load = (0..<samples).map { s in
                        let user = s % users
                        let ts = now - 3_600_000 + Int64(s / users) * 1_000
                        return Array(
                            #"{"type":"telemetry","user":"\#(prefix)u\#(user)","device":"d","session":"s","ts":\#(ts),"distance_m":\#(s / users * 3),"hr":140}"#
                                .utf8)
                    }
                } else {
                    load = (0..<(c.batch == 1 ? singles : events)).map { k in
                        Array(
                            #"{"type":"class.attended","id":"\#(prefix)-\#(k)","user":"u-\#(k % users)","ts":\#(now - 86_400_000 + Int64(k)),"minutes":\#(k % 90)}"#
                                .utf8)
                    }
                }
                let rate =
                    c.telemetry
                    ? try submitTelemetry(load, batch: c.batch, daemon: daemon)
                    : try bench.submitted(load, batch: c.batch, clients: c.clients, daemon: daemon).0
                rates[c.name] = rate
                print(String(format: "round %d  %-8@ %-40@ %9.0f events/s", round, engine, c.name, rate))
            }
            return rates
        }
        for c in cases {
            let sqlite = rates["sqlite"]!.map { $0[c.name]! }.median, postgres = rates["postgres"]!.map { $0[c.name]! }.median
            let standby = rates["standby"]!.map { $0[c.name]! }.median
            print(
                String(
                    format: "median   %-40@ sqlite %9.0f, postgres %9.0f, via a standby %9.0f events/s: postgres / sqlite = %.3f, standby / postgres = %.3f",
                    c.name, sqlite, postgres, standby, postgres / sqlite, standby / postgres))
        }
    }

    /// Telemetry samples per second acknowledged (in the journal when the reply comes), one
    /// client; then waits until the pipeline has processed them all.
    func submitTelemetry(_ load: [[UInt8]], batch: Int, daemon: DaemonProcess) throws -> Double {
        let before = try daemon.request(["op": "health"])["samples_processed"]?.int64Value ?? 0
        let client = CommandClient(context: ZMQContext(), endpoint: daemon.command, timeout: 30_000, retries: 1)
        let start = DispatchTime.now()
        for request in SubmitBench.requests(load, batch: batch) {
            guard let reply = try? client.request(request), reply["ok"] == .bool(true) else { throw ValidationError("telemetry submit failed") }
        }
        let rate = Double(load.count) / start.elapsedSeconds
        try daemon.waitFor("samples_processed", before + Int64(load.count), timeout: 120)
        return rate
    }

    /// The same bare loop as `clubbench submit`'s SQLite baseline.
    func bareSQLite(count: Int, batch: Int) throws -> Double {
        let rows = (0..<count).map { Array(#"{"type":"class.attended","id":"\#($0)"}"#.utf8) }
        return try SubmitBench().bareSQLite(rows, batch: batch)
    }

    /// Rows inserted into a fresh table of the durable server, one transaction per `batch`
    /// (BEGIN, one multi-row INSERT, COMMIT), from one task as fast as it goes: what a round
    /// of clubd's log writes costs at the least.
    func barePostgres(_ server: PostgresServer, count: Int, batch: Int) throws -> Double {
        let url = try PostgresURL(try server.createDatabase())
        let result = Mutex<Result<Double, any Error>>(.success(0))
        let done = DispatchSemaphore(value: 0)
        Task {
            defer { done.signal() }
            let client = PostgresClient(
                configuration: .init(host: url.host, port: url.port, username: url.user, password: nil, database: url.database, tls: .disable),
                backgroundLogger: Logger(label: "bench"))
            let running = Task.immediate { await client.run() }
            defer { running.cancel() }
            do {
                try await client.query("CREATE TABLE activity (id text PRIMARY KEY, user_id text, at bigint, body bytea)")
                let start = DispatchTime.now()
                for first in stride(from: 0, to: count, by: batch) {
                    let ids = (first..<min(first + batch, count)).map { "\($0)" }
                    try await client.withTransaction(logger: Logger(label: "bench")) { connection in
                        try await connection.query(
                            "INSERT INTO activity SELECT i, 'u', 1, \(ByteBuffer(string: "{}")) FROM unnest(\(ids)) AS i", logger: Logger(label: "bench"))
                    }
                }
                result.withLock { $0 = .success(Double(count) / start.elapsedSeconds) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
        }
        done.wait()
        return try result.withLock { $0 }.get()
    }
}
