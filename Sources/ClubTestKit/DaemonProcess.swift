import Foundation
import Logging
import Pipeline
import PostgresStorage
import Storage
import JSON
import ZMQ

/// A real `clubd` process for end-to-end tests, on ipc endpoints in its own directory so
/// tests run in parallel without port clashes.
public final class DaemonProcess: @unchecked Sendable {
    // @unchecked: used by one test at a time.
    public let directory: URL
    public let ingest: String
    public let command: String
    public let publish: String
    private let process: ChildProcess
    /// The PostgreSQL database this daemon keeps its state in (`CLUB_TEST_STORAGE=postgres`), or
    /// nil: SQLite files in its directory.
    public let postgresURL: String?

    /// The engine the end-to-end tests run on: `CLUB_TEST_STORAGE=postgres` runs each daemon
    /// on a database of its own on the shared test server (``PostgresServer``); unset or `sqlite`, on files.
    public static var testsPostgres: Bool { ProcessInfo.processInfo.environment["CLUB_TEST_STORAGE"] == "postgres" }

    /// Everything the daemon wrote to stdout and stderr, across restarts.
    public var log: String { process.log }

    /// The directory holding the test binaries, where `swift build` put `clubd` too.
    public static let productsDirectory: URL =
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// Creates a scratch directory and, optionally, pipeline files in it.
    /// - Parameter postgres: the server to keep the daemon's state on (a database of its own);
    ///   nil: the shared test server under `CLUB_TEST_STORAGE=postgres`, else SQLite files.
    /// - Parameter database: a PostgreSQL database (URI) shared with other instances instead.
    public init(pipelines: [String: String]? = nil, postgres: PostgresServer? = nil, database: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = ChildProcess("clubd", log: directory.appendingPathComponent("clubd.log"))
        if let database {
            postgresURL = database
        } else if let postgres {
            postgresURL = try postgres.createDatabase()
        } else if Self.testsPostgres {
            guard let server = PostgresServer.shared else { throw TestKitError("CLUB_TEST_STORAGE=postgres: \(PostgresServer.unavailableReason)") }
            postgresURL = try server.createDatabase()
        } else {
            postgresURL = nil
        }
        ingest = "ipc://\(directory.path)/ingest"
        command = "ipc://\(directory.path)/command"
        publish = "ipc://\(directory.path)/publish"
        let pipelineDir = directory.appendingPathComponent("Pipelines")
        try FileManager.default.createDirectory(at: pipelineDir, withIntermediateDirectories: true)
        for (name, text) in pipelines ?? ["minute.yaml": Self.minutePipeline] {
            try text.write(to: pipelineDir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    /// A one-minute tumbling pipeline with 1 minute lateness and no out-of-orderness delay; a
    /// user quiet for 2 s (daemon clock) has their windows closed.
    public static let minutePipeline = """
        name: minute
        stages:
          - {id: in, kind: source, events: [telemetry]}
          - {id: w, kind: window, from: in, window: tumbling, size: 1m, allowed_lateness: 1m, out_of_orderness: 0s, idle_timeout: 2s}
          - {id: out, kind: publish, from: w, topic: window}
        """

    /// A session pipeline (30 s gap, no out-of-orderness delay, closed after 2 s of quiet) that
    /// raises each finished session as a `workout.finished` activity event.
    public static let sessionPipeline = """
        name: sessions
        stages:
          - {id: in, kind: source}
          - {id: w, kind: window, from: in, window: session, gap: 30s, allowed_lateness: 1m, out_of_orderness: 0s, idle_timeout: 2s}
          - {id: out, kind: publish, from: w, topic: window, activity: workout.finished}
        """

    /// Starts `clubd` and waits until it answers `health`.
    /// - Parameter healthTimeout: seconds to wait (a large state takes a while to restore).
    public func start(extraArguments: [String] = [], healthTimeout: TimeInterval = 20) throws {
        try launch(extraArguments: extraArguments)
        let deadline = Date().addingTimeInterval(healthTimeout)
        while Date() < deadline {
            if let reply = try? request(["op": "health"], timeout: 300), reply["ok"] == .bool(true) { return }
            guard process.isRunning else { break }
        }
        throw TestKitError("clubd did not become healthy: \(log)")
    }

    /// Writes (or rewrites) a bonus rules file in the scratch directory.
    /// - Returns: the flags that make `clubd` use it.
    @discardableResult
    public func writeBonusRules(_ text: String) throws -> [String] {
        let file = directory.appendingPathComponent("bonus.yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return ["--bonus-rules", file.path]
    }

    /// Writes (or rewrites) offer rule files in a directory of the scratch directory.
    /// - Returns: the flags that make `clubd` use them.
    @discardableResult
    public func writeOfferRules(_ files: [String: String]) throws -> [String] {
        ["--offer-rules", try write(files, into: "offers")]
    }

    /// Writes (or rewrites) training catalogue files in a directory of the scratch directory.
    /// - Returns: the flags that make `clubd` use them.
    @discardableResult
    public func writeCatalogue(_ files: [String: String]) throws -> [String] {
        ["--catalogue", try write(files, into: "catalogue")]
    }

    /// Writes `files` into the scratch directory's `folder`. - Returns: the folder's path.
    private func write(_ files: [String: String], into folder: String) throws -> String {
        let url = directory.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return url.path
    }

    /// Polls `health` until the bonus stage has applied the activity log up to `offset`.
    public func waitForBonus(offset: Int64, timeout: TimeInterval = 30) throws {
        try waitFor("bonus_offset", offset, timeout: timeout)
    }

    /// Polls `health` until the offer stage has applied the activity log up to `offset`.
    public func waitForOffers(offset: Int64, timeout: TimeInterval = 30) throws {
        try waitFor("offers_offset", offset, timeout: timeout)
    }

    /// Polls `health` until its integer `field` (`samples_processed`, `bonus_offset` …) reaches `offset`.
    public func waitFor(_ field: String, _ offset: Int64, timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let done = try? request(["op": "health"], timeout: 1000)[field]?.int64Value, done >= offset { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TestKitError("health's \(field) did not reach \(offset) within \(timeout) s")
    }

    /// Polls `health` until each of `stages` (names of `health.stages`) has applied the whole
    /// activity log (lag 0, past offset 0).
    public func waitForStages(_ stages: [String], timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let status = try? request(["op": "health"], timeout: 5000)["stages"]
            if stages.allSatisfy({ status?[$0]?["lag"] == 0 && (status?[$0]?["offset"]?.int64Value ?? 0) > 0 }) { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TestKitError("stages \(stages) did not catch up with the activity log within \(timeout) s")
    }

    /// The daemon's storage opened beside it, for reading only (a test's oracle): its SQLite
    /// files, or its PostgreSQL database (`CLUB_TEST_STORAGE=postgres`).
    public func openStore() async throws -> any ClubStorage {
        if let postgresURL {
            return try await PostgresStore(url: try PostgresURL(postgresURL), connections: 2, logger: Logger(label: "test-oracle"))
        }
        return try ClubStore(path: databasePath)
    }

    /// The daemon's SQLite file.
    public var databasePath: String { directory.appendingPathComponent("var/clubd.sqlite").path }

    /// The process id while the daemon runs.
    public var processIdentifier: Int32? { process.processIdentifier }

    /// Sends SIGTERM and waits for the exit status.
    @discardableResult
    public func terminate() -> Int32 { process.terminate() }

    /// Sends SIGKILL: no drain, no snapshot.
    public func kill() { process.kill() }

    /// SIGSTOP: the process stops dead (its sockets and connections stay open) until ``resume()``.
    public func pause() { process.signal(SIGSTOP) }

    /// SIGCONT after ``pause()``.
    public func resume() { process.signal(SIGCONT) }

    /// SIGHUP: reload the definitions (what `systemctl reload` sends).
    public func hangUp() { process.signal(SIGHUP) }

    /// Waits up to `seconds` for the daemon to exit by itself. - Returns: its status, or nil.
    public func waitForExit(within seconds: TimeInterval) -> Int32? { process.waitForExit(within: seconds) }

    /// Starts `clubd` without waiting for `health` (a standby answers only once a holder does).
    public func launch(extraArguments: [String] = []) throws {
        try process.start(
            [
                "--ingest", ingest, "--command", command, "--publish", publish, "--state-dir",
                directory.appendingPathComponent("var").path, "--pipelines", directory.appendingPathComponent("Pipelines").path,
            ] + (postgresURL.map { ["--postgres-url", $0] } ?? []) + extraArguments)
    }

    /// Runs `clubd --check-config` with `arguments`.
    /// - Returns: the exit status and what it wrote to standard error.
    public static func checkConfig(_ arguments: [String]) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("clubd")
        process.arguments = ["--check-config"] + arguments
        let pipe = Pipe()
        process.standardError = pipe
        try process.run()
        let errors = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, errors)
    }

    deinit {
        process.kill()
        try? FileManager.default.removeItem(at: directory)
    }

    private let context = ZMQContext()

    /// One command request over a fresh REQ socket.
    public func request(_ body: JSONValue, timeout: Int = 10_000, as keys: CurveClientKeys? = nil) throws -> JSONValue {
        try request(bytes: body.serialized(), timeout: timeout, as: keys)
    }

    /// The keys of the clients this object's sockets use when none are given (an admin's, for a
    /// daemon in `security.mode: curve`); nil for plain sockets.
    public var curve: CurveClientKeys?

    public func request(bytes: [UInt8], timeout: Int = 10_000, as keys: CurveClientKeys? = nil) throws -> JSONValue {
        let socket = try ZMQSocket(context: context, type: .req)
        defer { socket.close() }
        try socket.set(.linger, 0)
        try (keys ?? curve)?.apply(to: socket)
        try socket.connect(command)
        try socket.send(bytes)
        var poller = ZMQPoller(reading: [socket])
        guard try poller.poll(timeoutMilliseconds: timeout)[0], let reply = try socket.receiveFrame(wait: false) else {
            throw TestKitError("no reply within \(timeout) ms")
        }
        return try JSONValue.parse(reply.bytes)
    }

    /// A PUSH socket connected to ingest.
    public func pusher(as keys: CurveClientKeys? = nil) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .push)
        try socket.set(.linger, 2000)
        try (keys ?? curve)?.apply(to: socket)
        try socket.connect(ingest)
        return socket
    }

    /// A SUB socket on `prefix`, given time to connect before it is returned.
    public func subscriber(_ prefix: String = "", as keys: CurveClientKeys? = nil) throws -> Subscription {
        let socket = try ZMQSocket(context: context, type: .sub)
        try (keys ?? curve)?.apply(to: socket)
        try socket.connect(publish)
        try socket.subscribe(prefix)
        Thread.sleep(forTimeInterval: 0.3)  // PUB drops messages until the subscription arrives
        return Subscription(socket: socket)
    }
}

/// Messages received on a SUB socket.
public struct Subscription {
    let socket: ZMQSocket

    /// Receives messages until `count` arrived or `timeout` ms passed.
    public func receive(count: Int, timeout: Int = 10_000) throws -> [(topic: String, payload: JSONValue)] {
        var result: [(String, JSONValue)] = []
        let deadline = Date().addingTimeInterval(Double(timeout) / 1000)
        var poller = ZMQPoller(reading: [socket])
        while result.count < count {
            let left = Int(deadline.timeIntervalSinceNow * 1000)
            guard left > 0, try poller.poll(timeoutMilliseconds: left)[0] else { break }
            while result.count < count, let frames = try socket.receiveMessage(wait: false), frames.count == 2 {
                result.append((String(decoding: frames[0], as: UTF8.self), try JSONValue.parse(frames[1])))
            }
        }
        return result
    }
}

public struct TestKitError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
