import ArgumentParser
import ClubClient
import ZMQ

/// `clubctl`: talk to a running clubd over its ZeroMQ sockets.
@main
struct Clubctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clubctl",
        abstract: "Command-line client of the Interest Club daemon.",
        subcommands: [
            Health.self, Send.self, Subscribe.self, Stats.self, Balance.self, Ledger.self, Leaderboard.self, Workouts.self, Import.self,
            Offers.self, Exercises.self, Programmes.self, ProgrammeCommand.self, Progress.self, Groups.self, GroupCommand.self,
            Sessions.self, SessionCommand.self, Discussion.self, CompetitionCommand.self, DevicesCommand.self, Simulate.self,
        ])
}

/// Endpoints shared by the subcommands.
struct Endpoints: ParsableArguments {
    @Option(help: "Ingest endpoint.") var ingest = "tcp://127.0.0.1:7001"
    @Option(help: "Command endpoint.") var command = "tcp://127.0.0.1:7002"
    @Option(help: "Publish endpoint.") var publish = "tcp://127.0.0.1:7003"
    @Option(help: "Milliseconds to wait for a reply before retrying (Lazy Pirate).") var timeout = 3000
    @Option(help: "Attempts before giving up.") var retries = 3

    /// A Lazy Pirate client of the command socket with these settings.
    /// - Parameter timeout: milliseconds, for requests known to take long (default: `--timeout`).
    func client(context: ZMQContext = ZMQContext(), timeout: Int? = nil) -> CommandClient {
        CommandClient(context: context, endpoint: command, timeout: max(timeout ?? 0, self.timeout), retries: retries)
    }
}
