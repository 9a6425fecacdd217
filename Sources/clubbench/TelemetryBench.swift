import ArgumentParser
import ClubRuntime
import ClubTestKit
import Events
import Foundation
import JSON
import Pipeline
import Simulation
import Synchronization
import Telemetry
import ZMQ

/// Sustained telemetry throughput through decode → window → publish, beside a raw ZeroMQ
/// PUSH/PULL of the same frames measured in the same run.
struct TelemetryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry", abstract: "Telemetry throughput and memory, beside raw ZeroMQ PUSH/PULL.")

    @Option(help: "Telemetry samples to send.") var events = 1_000_000
    @Option(help: "Users in the simulated fleet.") var users = 10_000
    @Flag(help: "Measure only the decoder and the window operator, in this process (for profiling).")
    var componentsOnly = false
    @Option(help: "Events per ingest frame (a JSON array of that many samples); 1 sends each sample alone.")
    var batch = 1
    @Flag(help: "Compare security.mode curve with open: alternate runs of both, report the ratio.")
    var curve = false
    @Flag(help: "Compare the telemetry history on (raw samples and rollups written) with history.enabled: false, alternating.")
    var history = false
    @Option(help: "Runs of each mode with --curve or --history.") var rounds = 3

    func run() throws {
        let options = FleetSimulator.Options.endingNow(users: users, events: events)
        var fleet = FleetSimulator(options: options)
        var frames: [[UInt8]] = []
        frames.reserveCapacity(events)
        while frames.count < events { frames += fleet.nextFrames() }
        if curve { return try compareSecurity(Self.batched(frames, batch)) }
        if history { return try compareHistory(Self.batched(frames, batch)) }
        let bytes = frames.reduce(0) { $0 + $1.count }
        print("frames: \(frames.count), \(bytes / frames.count) bytes each on average, \(users) users")

        let (decodeRate, samples) = decodeOnly(frames)
        print(String(format: "component decode alone (one thread):               %10.0f events/s", decodeRate))
        let (windowRate, results) = windowsOnly(samples)
        print(String(format: "component windows alone (one thread):              %10.0f events/s, %d results", windowRate, results))
        if componentsOnly { return }

        let raw = try rawPushPull(frames)
        print(String(format: "baseline  raw PUSH→PULL (tcp loopback, batch drain): %10.0f frames/s", raw))

        let run = try DaemonRun.measure(frames, pipelines: ["minute.yaml": PipelineLoader.embeddedDefault])
        let (daemon, rss) = (run.rate, run.rss)
        print(String(format: "clubd     decode → window → publish:               %10.0f events/s", daemon))
        print(String(format: "ratio     clubd / raw = %.3f", daemon / raw))
        print("snapshot  of the state after the run: \(run.snapshot)")
        print("clubd RSS MiB at each tenth of the run and at the end: \(rss.samples.map { String($0 / 1024) }.joined(separator: " ")); peak \(rss.peak / 1024)")
    }

    /// `frames` joined `size` at a time into JSON arrays (batch frames).
    static func batched(_ frames: [[UInt8]], _ size: Int) -> [[UInt8]] {
        guard size > 1 else { return frames }
        return stride(from: 0, to: frames.count, by: size).map { first in
            var frame: [UInt8] = [UInt8(ascii: "[")]
            for (i, event) in frames[first..<min(first + size, frames.count)].enumerated() {
                if i > 0 { frame.append(UInt8(ascii: ",")) }
                frame += event
            }
            frame.append(UInt8(ascii: "]"))
            return frame
        }
    }

    /// Telemetry through clubd in `open` and in `curve` mode (a service key allowed `telemetry`
    /// sends the fleet, the subscriber is the admin), alternated `rounds` times in this run.
    func compareSecurity(_ frames: [[UInt8]]) throws {
        print("frames: \(frames.count) of \(batch) event(s), \(events) samples, \(users) users; \(rounds) rounds of open then curve")
        let rates = try alternate(["open", "curve"], rounds: rounds) { round, mode in
            var sender: CurveClientKeys?
            let run = try DaemonRun.measure(
                frames, pipelines: ["minute.yaml": PipelineLoader.embeddedDefault], samples: events,
                prepare: { daemon in
                    guard mode == "curve" else { return [] }
                    let setup = try daemon.enableCurve(services: [(name: "gateway", events: ["telemetry"], ops: [])])
                    sender = setup.services["gateway"]
                    return setup.flags
                }, sender: { sender })
            print(String(format: "round %d   %-5@ decode → window → publish: %10.0f events/s", round, mode, run.rate))
            return run.rate
        }
        let open = rates["open"]!.median, secured = rates["curve"]!.median
        print(String(format: "median    open %.0f, curve %.0f events/s: ratio curve / open = %.3f", open, secured, secured / open))
    }

    /// Telemetry through clubd with the history kept (the default) and with `history.enabled:
    /// false`, alternated `rounds` times in this run: events/s and the daemon's peak RSS.
    func compareHistory(_ frames: [[UInt8]]) throws {
        print("frames: \(frames.count) of \(batch) event(s), \(events) samples, \(users) users; \(rounds) rounds of without then with history")
        let runs = try alternate(["without", "with"], rounds: rounds) { round, mode in
            let run = try DaemonRun.measure(
                frames, pipelines: ["minute.yaml": PipelineLoader.embeddedDefault], samples: events,
                prepare: { daemon in
                    let config = daemon.directory.appendingPathComponent("clubd.yaml")
                    try "history: {enabled: \(mode == "with")}\n".write(to: config, atomically: true, encoding: .utf8)
                    return ["--config", config.path]
                })
            print(String(format: "round %d   %-7@ history: %10.0f events/s, peak RSS %.0f MiB", round, mode, run.rate, Double(run.rss.peak) / 1024))
            return (rate: run.rate, rss: Double(run.rss.peak) / 1024)
        }
        func median(_ mode: String, _ value: ((rate: Double, rss: Double)) -> Double) -> Double { runs[mode]!.map(value).median }
        let without = median("without", \.rate), with = median("with", \.rate)
        print(String(format: "median    without %.0f, with %.0f events/s: ratio with / without = %.3f (cost %.1f %%)", without, with, with / without, (1 - with / without) * 100))
        print(String(format: "median    peak RSS without %.0f MiB, with %.0f MiB", median("without", \.rss), median("with", \.rss)))
    }

    /// Events per second the decoder turns into samples, in ingest-sized batches.
    func decodeOnly(_ frames: [[UInt8]]) -> (Double, [[TelemetrySample]]) {
        let decoder = EventDecoder()
        let now = Clock.nowMillis() + decoder.limits.maxFutureMillis
        var batches: [[TelemetrySample]] = []
        let start = DispatchTime.now()
        var index = 0
        while index < frames.count {
            var decoded = DecodedEvents()
            for frame in frames[index..<min(index + 1024, frames.count)] { decoder.decode(frame: frame, now: now, into: &decoded) }
            batches.append(decoded.samples)
            index += 1024
        }
        return (Self.rate(frames.count, since: start), batches)
    }

    /// Samples per second through the embedded pipeline's window operator, and the results it
    /// emitted (none when the stream spans less than a window per user).
    func windowsOnly(_ batches: [[TelemetrySample]]) -> (Double, Int) {
        let spec = try! PipelineLoader.load(files: [("embedded", PipelineLoader.embeddedDefault)])[0].window
        var windows = WindowOperator(spec: spec)
        let start = DispatchTime.now()
        var results = 0
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for batch in batches { results += windows.process(batch, now: now).results.count }
        return (Self.rate(batches.reduce(0) { $0 + $1.count }, since: start), results)
    }

    static func rate(_ count: Int, since start: DispatchTime) -> Double {
        Double(count) / start.elapsedSeconds
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
        let seconds = start.elapsedSeconds
        push.close()
        pull.close()
        return Double(frames.count) / seconds
    }
}

extension FleetSimulator.Options {
    /// A fleet of `users` whose `events` samples, one round of all users per sample
    /// interval, end about now.
    static func endingNow(users: Int, events: Int) -> Self {
        var options = Self()
        options.users = users
        let rounds = Int64((events + users - 1) / users)
        options.startTs = Int64(Date().timeIntervalSince1970 * 1000) - rounds * options.sampleInterval
        return options
    }
}

/// A real `clubd` process built beside this benchmark, fed over tcp loopback with a live
/// subscriber on `window.`.
enum DaemonRun {
    /// Telemetry samples per second from the first frame sent until `health` reports all
    /// `samples` processed (every frame, by default); the daemon's resident memory is sampled
    /// ten times along the way, and a snapshot is timed at the end.
    /// `alongside` runs on another thread while the frames are sent, until they are.
    /// `prepare` writes files and returns extra flags before the daemon starts; `ready` runs
    /// once it is healthy, before the stream; `inspect` once the stream is processed.
    static func measure(
        _ frames: [[UInt8]], pipelines: [String: String], samples: Int? = nil,
        prepare: ((DaemonProcess) throws -> [String])? = nil, ready: ((DaemonProcess) throws -> Void)? = nil,
        inspect: ((DaemonProcess) throws -> Void)? = nil,
        alongside: (@Sendable (DaemonProcess, _ done: @Sendable () -> Bool) -> Void)? = nil,
        sender: () -> CurveClientKeys? = { nil }
    ) throws -> Result {
        let samples = samples ?? frames.count
        let daemon = try DaemonProcess(pipelines: pipelines)
        try daemon.start(extraArguments: ["--log-level", "warning"] + (prepare?(daemon) ?? []))
        defer { daemon.terminate() }
        try ready?(daemon)
        var rss = RSSTracker(pid: daemon.processIdentifier!)

        let context = ZMQContext()
        let push = try ZMQSocket(context: context, type: .push)
        try sender()?.apply(to: push)
        try push.connect(daemon.ingest)
        let sub = try ZMQSocket(context: context, type: .sub)
        try daemon.curve?.apply(to: sub)
        try sub.subscribe("window.")
        try sub.connect(daemon.publish)
        defer {
            push.close()
            sub.close()
        }
        let finished = Mutex(false)
        let helper = DispatchGroup()
        if let alongside {
            helper.enter()
            Thread {
                alongside(daemon) { finished.withLock { $0 } }
                helper.leave()
            }.start()
        }

        let start = DispatchTime.now()
        let tenth = max(1, frames.count / 10)
        for (i, frame) in frames.enumerated() {
            try push.send(frame)
            if i % tenth == tenth - 1 { rss.sample() }
            if i % 4096 == 0 { while (try? sub.receiveFrame(wait: false)) ?? nil != nil {} }
        }
        while true {
            while (try? sub.receiveFrame(wait: false)) ?? nil != nil {}
            let reply = try daemon.request(["op": "health"])
            if let processed = reply["samples_processed"]?.int64Value, processed >= Int64(samples) { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let seconds = start.elapsedSeconds
        finished.withLock { $0 = true }
        helper.wait()
        rss.sample()
        rss.recordPeak()
        try inspect?(daemon)
        let snapshotStart = DispatchTime.now()
        let snapshot = try daemon.request(["op": "snapshot"], timeout: 120_000)
        let snapshotTaken = Snapshot(millis: snapshotStart.elapsedSeconds * 1000, bytes: Int(snapshot["bytes"]?.int64Value ?? 0))
        return Result(rate: Double(samples) / seconds, rss: rss, snapshot: snapshotTaken)
    }

    /// What one run measured.
    struct Result {
        var rate: Double
        var rss: RSSTracker
        /// The `snapshot` op after the stream: the pipeline loop stops for this long every
        /// `state.snapshot_interval`.
        var snapshot: Snapshot
    }

    struct Snapshot: CustomStringConvertible {
        var millis: Double
        var bytes: Int
        var description: String { String(format: "%.0f ms, %.1f MB", millis, Double(bytes) / 1e6) }
    }
}

/// Resident memory of a process, read from /proc/PID/status, in KiB.
struct RSSTracker {
    let pid: Int32
    var samples: [Int] = []
    var peak = 0

    mutating func sample() { samples.append(read("VmRSS:")) }
    mutating func recordPeak() { peak = read("VmHWM:") }

    private func read(_ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }
}
