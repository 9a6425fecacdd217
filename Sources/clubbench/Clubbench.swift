import ArgumentParser
import ClubDaemon
import Foundation
import JSON
import Logging
import Simulation
import ZMQ

/// Sustained telemetry throughput through decode → window → publish, beside a raw ZeroMQ
/// PUSH/PULL of the same frames measured in the same run.
@main
struct Clubbench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clubbench", abstract: "Throughput and memory benchmark of the clubd pipeline (run with -c release).")

    @Option(help: "Telemetry samples to send.") var events = 1_000_000
    @Option(help: "Users in the simulated fleet.") var users = 10_000

    func run() async throws {
        var options = FleetSimulator.Options()
        options.users = users
        let rounds = Int64((events + users - 1) / users)
        options.startTs = Int64(Date().timeIntervalSince1970 * 1000) - rounds * options.sampleInterval
        var fleet = FleetSimulator(options: options)
        var frames: [[UInt8]] = []
        frames.reserveCapacity(events)
        while frames.count < events { frames += fleet.nextFrames() }
        let bytes = frames.reduce(0) { $0 + $1.count }
        print("frames: \(frames.count), \(bytes / frames.count) bytes each on average, \(users) users")

        let raw = try rawPushPull(frames)
        print(String(format: "baseline  raw PUSH→PULL (tcp loopback, batch drain): %10.0f frames/s", raw))

        let (daemon, rss) = try await throughDaemon(frames)
        print(String(format: "clubd     decode → window → publish:               %10.0f events/s", daemon))
        print(String(format: "ratio     clubd / raw = %.3f", daemon / raw))
        print("RSS MiB at 25/50/75/100% of the run: \(rss.samples.map { String($0 / 1024) }.joined(separator: " / ")); peak \(rss.peak / 1024)")
    }

    /// Frames per second a PULL thread receives when a PUSH sends them flat out.
    func rawPushPull(_ frames: [[UInt8]]) throws -> Double {
        let context = ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = pull.lastEndpoint
        let done = DispatchSemaphore(value: 0)
        let count = frames.count
        let receiver = Thread {
            var received = 0
            while received < count {
                guard (try? pull.receiveFrame(wait: true)) != nil else { continue }
                received += 1
                while received < count, (try? pull.receiveFrame(wait: false)) ?? nil != nil { received += 1 }
            }
            done.signal()
        }
        receiver.start()
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(endpoint)
        let start = DispatchTime.now()
        for frame in frames { try push.send(frame) }
        done.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        push.close()
        pull.close()
        return Double(frames.count) / seconds
    }

    /// Events per second through a real daemon (in this process, tcp loopback), measured
    /// from the first frame sent until `health` reports every sample processed.
    func throughDaemon(_ frames: [[UInt8]]) async throws -> (Double, RSSTracker) {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("clubbench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: state) }
        var config = ClubConfig()
        config.ingestEndpoint = "tcp://127.0.0.1:*"
        config.commandEndpoint = "tcp://127.0.0.1:*"
        config.publishEndpoint = "tcp://127.0.0.1:*"
        config.stateDirectory = state.path
        config.pipelinesDirectory = "/nonexistent"  // the embedded one-minute pipeline
        config.snapshotIntervalMillis = 3_600_000
        var logger = Logger(label: "clubbench")
        logger.logLevel = .warning
        let daemon = Daemon(config: config, logger: logger)
        let ready = AsyncStream<Daemon.Endpoints>.makeStream()
        let running = Task { try await daemon.run(handleSignals: false) { ready.continuation.yield($0) } }
        var iterator = ready.stream.makeAsyncIterator()
        guard let endpoints = await iterator.next() else { throw ExitCode.failure }

        let context = ZMQContext()
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(endpoints.ingest)
        let sub = try ZMQSocket(context: context, type: .sub)  // a live subscriber, as in production
        try sub.subscribe("window.")
        try sub.connect(endpoints.publish)
        let client = try ZMQSocket(context: context, type: .req)
        try client.connect(endpoints.command)

        var rss = RSSTracker()
        let start = DispatchTime.now()
        for (i, frame) in frames.enumerated() {
            try push.send(frame)
            if i % (frames.count / 4) == frames.count / 4 - 1 { rss.sample() }
            if i % 4096 == 0 { while (try? sub.receiveFrame(wait: false)) ?? nil != nil {} }
        }
        while true {
            while (try? sub.receiveFrame(wait: false)) ?? nil != nil {}
            try client.send(Array(#"{"op":"health"}"#.utf8))
            let reply = try JSONValue.parse(try client.receiveFrame()!.bytes)
            if let processed = reply["samples_processed"]?.int64Value, processed >= Int64(frames.count) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        rss.sample()
        push.close()
        sub.close()
        client.close()
        daemon.stop()
        try await running.value
        return (Double(frames.count) / seconds, rss)
    }
}

/// Resident memory read from /proc/self/status, in KiB.
struct RSSTracker {
    var samples: [Int] = []
    var peak: Int { Self.read("VmHWM:") }

    mutating func sample() { samples.append(Self.read("VmRSS:")) }

    static func read(_ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }
}
