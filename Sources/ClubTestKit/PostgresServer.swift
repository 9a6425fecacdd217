import Foundation
import Synchronization

/// A real PostgreSQL server for tests: `initdb` in a temporary directory, `pg_ctl` on a free
/// loopback port, a fresh database per test (``createDatabase()``), stopped when the test
/// process exits. As root (CI, containers) the server runs as the `postgres` user, since
/// PostgreSQL refuses to run as root.
///
/// Where no PostgreSQL is installed, ``shared`` is nil and ``unavailableReason`` says why: tests
/// that need it skip with that message.
public final class PostgresServer: Sendable {
    public let port: Int
    public let directory: URL
    let binaries: URL
    let user = "club"

    /// The server every test of this process shares, started on first use; nil where none can run.
    public static var shared: PostgresServer? { started.value }
    /// Why ``shared`` is nil.
    public static var unavailableReason: String { started.reason }

    private static let started: (value: PostgresServer?, reason: String) = {
        do {
            let server = try PostgresServer()
            atexit { PostgresServer.started.value?.stop() }
            return (server, "")
        } catch {
            return (nil, "PostgreSQL not available: \(error) (install the postgresql package; .ci/run does)")
        }
    }()

    private static let databases = Atomic<Int>(0)

    /// Finds the server's programs, makes a cluster and starts it.
    /// - Parameter durable: flush the WAL at every commit, as a production server does (the
    ///   benchmark); tests run without fsync (killing clubd, not the server, loses nothing).
    public init(durable: Bool = false) throws {
        guard let bin = Self.findBinaries() else {
            throw TestKitError("no initdb/pg_ctl in PATH or /usr/lib/postgresql/*/bin")
        }
        binaries = bin
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("club-pg-\(getpid())-\(UUID().uuidString.prefix(6))")
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        if getuid() == 0 {
            guard getpwnam("postgres") != nil else { throw TestKitError("running as root and there is no 'postgres' user to run the server as") }
            try Self.run("/bin/chown", ["-R", "postgres", directory.path])
        }
        let safety = durable ? "-c fsync=on -c synchronous_commit=on" : "-c fsync=off -c full_page_writes=off"
        options = "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 \(safety) -c max_connections=400"
        try runAsServerUser("initdb", ["-D", data.path, "-A", "trust", "-U", user, "-E", "UTF8", "--no-sync", "--no-instructions"])
        try start()
    }

    private let options: String

    /// Starts the server (again, after ``pause()``), on the same port and files.
    public func start() throws {
        let data = directory.appendingPathComponent("data")
        try runAsServerUser("pg_ctl", ["-D", data.path, "-o", options, "-l", directory.appendingPathComponent("server.log").path, "-w", "-t", "60", "start"])
    }

    /// Stops the server, keeping its files (an outage: ``start()`` brings it back).
    public func pause() throws {
        try runAsServerUser("pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "fast", "-w", "stop"])
    }

    /// A new, empty database. - Returns: its libpq URI.
    public func createDatabase() throws -> String {
        let name = "club_\(getpid())_\(Self.databases.add(1, ordering: .relaxed).newValue)"
        try Self.run(psql, ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        return "postgresql://\(user)@127.0.0.1:\(port)/\(name)?sslmode=disable"
    }

    /// psql, beside the server's programs.
    var psql: String { binaries.appendingPathComponent("psql").path }

    /// Stops the server at once and removes its files.
    public func stop() {
        try? runAsServerUser("pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    private func runAsServerUser(_ program: String, _ arguments: [String]) throws {
        let path = binaries.appendingPathComponent(program).path
        if getuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        } else {
            try Self.run(path, arguments)
        }
    }

    private static func findBinaries() -> URL? {
        var candidates: [URL] = []
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(dir)))
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            candidates.append(URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin"))
        }
        return candidates.first { dir in
            ["initdb", "pg_ctl", "postgres"].allSatisfy { FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent($0).resolvingSymlinksInPath().path) }
        }.map { $0.appendingPathComponent("initdb").resolvingSymlinksInPath().deletingLastPathComponent() }
    }

    /// A TCP port nothing listens on now (bound to 0 and released).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestKitError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestKitError("cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program to its end, with posix_spawn and waitpid (Foundation's `Process` left
    /// `pg_ctl`'s parent unreaped here); its output goes to a file, not a pipe, which the server
    /// that `pg_ctl start` leaves running would hold open.
    private static func run(_ program: String, _ arguments: [String]) throws {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("club-pg-run-\(UUID().uuidString.prefix(8)).log").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestKitError("cannot start \(program): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        guard exited && (status >> 8) & 0xff == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw TestKitError("\(program) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
    }
}
