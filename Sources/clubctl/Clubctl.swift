import ArgumentParser
import ClubClient
import Foundation
import ZMQ

/// `clubctl`: talk to a running clubd over its ZeroMQ sockets.
@main
struct Clubctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clubctl",
        abstract: "Command-line client of the Interest Club daemon.",
        subcommands: [
            Health.self, Snapshot.self, Send.self, Subscribe.self, Stats.self, Balance.self, Ledger.self, Leaderboard.self, Workouts.self, Import.self,
            Offers.self, Exercises.self, Programmes.self, ProgrammeCommand.self, Progress.self, Groups.self, GroupCommand.self,
            Sessions.self, SessionCommand.self, Discussion.self, CompetitionCommand.self, DevicesCommand.self, GearCommand.self, HistoryCommand.self, Simulate.self, Keygen.self,
        ])
}

/// Endpoints shared by the subcommands.
struct Endpoints: ParsableArguments {
    @Option(help: "Ingest endpoint; several, comma-separated, for instances sharing a database (sent to those that are up).")
    var ingest = "tcp://127.0.0.1:7001"
    @Option(help: "Command endpoint; several, comma-separated, for instances sharing a database (each answers every request).")
    var command = "tcp://127.0.0.1:7002"
    @Option(help: "Publish endpoint (one instance: each publishes everything).") var publish = "tcp://127.0.0.1:7003"
    @Option(help: "Milliseconds to wait for a reply before retrying (Lazy Pirate).") var timeout = 3000
    @Option(help: "Attempts before giving up.") var retries = 3
    @Option(help: "The daemon's public key (Z85; `clubd --print-public-key`) when it runs security.mode curve; default $CLUB_SERVER_KEY.")
    var serverKey: String?
    @Option(help: "File holding this client's Z85 secret key (`clubctl keygen`); default $CLUB_KEY_FILE.")
    var keyFile: String?

    /// The CurveZMQ keys to connect with, or nil for a daemon in open mode.
    /// - Throws: ``ValidationError`` when a key is missing or not Z85.
    func curve() throws -> CurveClientKeys? {
        let environment = ProcessInfo.processInfo.environment
        let server = serverKey ?? environment["CLUB_SERVER_KEY"]
        let file = keyFile ?? environment["CLUB_KEY_FILE"]
        guard server != nil || file != nil else { return nil }
        guard let server, let file else { throw ValidationError("CurveZMQ needs both --server-key and --key-file (or CLUB_SERVER_KEY and CLUB_KEY_FILE)") }
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read the key file \(file)") }
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let keys = CurveClientKeys(serverKey: server.trimmingCharacters(in: .whitespaces), secretKey: secret) else {
            throw ValidationError("--server-key and the key file must each hold a 40-character Z85 key")
        }
        return keys
    }

    /// A socket of `type` connected to `endpoint`, with the CurveZMQ keys when given.
    func socket(_ type: ZMQSocketType, _ endpoint: String, context: ZMQContext = ZMQContext(), linger: Int = 0) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: type)
        try socket.set(.linger, linger)
        try curve()?.apply(to: socket)
        let endpoints = CommandClient.endpoints(endpoint)
        // Several instances: frames go to those that are up (one alone: queued until it is).
        if type == .push, endpoints.count > 1 { try socket.set(.immediate, 1) }
        for endpoint in endpoints { try socket.connect(endpoint) }
        return socket
    }

    /// A Lazy Pirate client of the command socket with these settings.
    /// - Parameter timeout: milliseconds, for requests known to take long (default: `--timeout`).
    func client(context: ZMQContext = ZMQContext(), timeout: Int? = nil) throws -> CommandClient {
        CommandClient(context: context, endpoint: command, timeout: max(timeout ?? 0, self.timeout), retries: retries, curve: try curve())
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a new CurveZMQ key pair (Z85): for the daemon's secret_key_file, a service, an admin or a device.")
    @Option(help: "Write the secret key to this file (mode 0600) and print only the public key.") var secretFile: String?

    func run() throws {
        let (publicKey, secretKey) = try CurveKeys.generate()
        guard let secretFile else {
            print("public_key: \(publicKey)\nsecret_key: \(secretKey)")
            return
        }
        guard FileManager.default.createFile(atPath: secretFile, contents: Data((secretKey + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw ValidationError("cannot write \(secretFile)") }
        print(publicKey)
    }
}
