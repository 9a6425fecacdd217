import ArgumentParser
import ClubTestKit
import Foundation
import Pipeline
import ZMQ

/// What a snapshot costs once most users are quiet: a real clubd holding `users` users' window
/// state, then a small share of them sending again between snapshots. Each `snapshot` op is
/// timed (request to reply, the state saved) with the bytes it wrote; the first writes every
/// user (the stage's first snapshot), the later ones only the users who changed. Then the
/// daemon is stopped and restarted, and the restart timed to `health`.
struct SnapshotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots", abstract: "Snapshot cost with few active users (incremental window state), and restart time.")

    @Option(help: "Users holding window state.") var users = 100_000
    @Option(help: "Samples each user sends at first (one a second).") var samples = 5
    @Option(help: "Share of the users sending again before each later snapshot.") var active = 0.01
    @Option(help: "Snapshots after the first.") var rounds = 5
    @Option(help: "A clubd configuration file to run with (snapshot_interval is set to 1h by default, so only the op snapshots).")
    var config: String?

    func run() throws {
        let daemon = try DaemonProcess(pipelines: ["minute.yaml": PipelineLoader.embeddedDefault])
        let configFile = daemon.directory.appendingPathComponent("bench.yaml")
        try "state:\n  snapshot_interval: 1h\n".write(to: configFile, atomically: true, encoding: .utf8)
        let arguments = ["--log-level", "info", "--config", config ?? configFile.path]
        try daemon.start(extraArguments: arguments)
        defer { _ = daemon.terminate() }
        let context = ZMQContext()
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(daemon.ingest)
        defer { push.close() }
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
        var sent = 0
        func send(_ who: some Collection<Int>, from second: Int, count: Int) throws {
            let events = who.flatMap { user in
                (second..<(second + count)).map { s in
                    Array(#"{"type":"telemetry","user":"u\#(user)","device":"d","session":"s","ts":\#(start + Int64(s) * 1_000),"distance_m":\#(s * 3),"hr":140}"#.utf8)
                }
            }
            for frame in TelemetryBench.batched(events, 100) { try push.send(frame) }
            sent += events.count
            try daemon.waitFor("samples_processed", Int64(sent), timeout: 300)
        }
        func snapshot(_ label: String) throws {
            let begin = DispatchTime.now()
            let reply = try daemon.request(["op": "snapshot"], timeout: 120_000)
            let millis = begin.elapsedSeconds * 1000
            print(String(format: "%@ %8.1f ms, %8.2f MB written", label, millis, Double(reply["bytes"]?.int64Value ?? 0) / 1e6))
        }
        try send(0..<users, from: 0, count: samples)
        try snapshot("first snapshot (every user)           ")
        var rng = SystemRandomNumberGenerator()
        let activeCount = max(1, Int(Double(users) * active))
        for round in 1...rounds {
            let who = (0..<activeCount).map { _ in Int.random(in: 0..<users, using: &rng) }
            try send(Set(who), from: samples + round * 2, count: 2)
            try snapshot(String(format: "snapshot %d, %5.1f %% of users active    ", round, active * 100))
        }
        let stopped = daemon.terminate()
        let restartBegin = DispatchTime.now()
        try daemon.start(extraArguments: arguments, healthTimeout: 120)
        let restart = restartBegin.elapsedSeconds
        let restored = try daemon.request(["op": "health"])["users"]?.int64Value ?? 0
        // The daemon's own account of the restore (its `state restored` line, at info).
        if let line = daemon.log.split(separator: "\n").last(where: { $0.contains("state restored") }) {
            let fields = line.split(separator: " ").filter { $0.contains("_ms=") }.sorted()
            print("restore (the daemon's log): " + fields.joined(separator: ", "))
        }
        print(String(format: "restart to health (after SIGTERM, exit %d): %.2f s, %d users restored", stopped, restart, restored))
    }
}
