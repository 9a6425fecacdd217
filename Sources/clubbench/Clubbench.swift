import ArgumentParser

/// `clubbench`: benchmarks of the daemon through its real sockets, each beside a baseline
/// measured in the same run (run with -c release).
@main
struct Clubbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clubbench", abstract: "Benchmarks of clubd, each with a same-run baseline (build with -c release).",
        subcommands: [TelemetryBench.self, SubmitBench.self, BoardsBench.self, OffersBench.self, ImportsBench.self, HandoffBench.self, TrainingBench.self, CommunityBench.self, PeersJobBench.self, StateMemoryBench.self, SnapshotBench.self, EnginesBench.self], defaultSubcommand: TelemetryBench.self)
}
