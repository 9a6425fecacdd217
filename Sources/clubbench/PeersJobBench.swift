import ArgumentParser
import ClubTestKit
import Foundation
import JSON
import Pipeline
import Synchronization
import ZMQ

/// The peers' job (`../shared/bench/peers-job`): per-user 60 s tumbling windows, watermark
/// newest − 5 s, no lateness, top 10 users per window, on the workload every peer engine ran.
/// The plain CPython reference runs first, in this invocation; then a real clubd with the job's
/// pipeline alone, for each frame size. Each prints events/s (first event processed to the
/// last), CPU seconds, peak RSS and the ratio to the reference; clubd's windows are checked
/// against the reference output.
struct PeersJobBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers-job", abstract: "The peers' windowed job through clubd beside the CPython reference, windows checked.")

    @Option(help: "The peers' job directory (gen_telemetry.py, to_contract.py, reference_job.py, peer-pipeline.yaml).")
    var peers = "../shared/bench/peers-job"
    @Option(help: "Where the generated workload is kept between runs.") var data = "/tmp/clubbench-peers"
    @Option(help: "Events of the workload (the peers ran 1000000 and 5000000).") var events = 1_000_000
    @Option(help: "Users of the workload.") var users = 10_000
    @Option(help: "Events per ingest frame, one clubd run each (comma-separated).") var frames = "100,1"
    @Flag(help: "Run clubd with the embedded default pipelines (sessions, personal records) beside the job's.")
    var defaultPipelines = false
    @Option(help: "A clubd configuration file to run with (e.g. one with history.enabled: false).") var config: String?

    func run() throws {
        var workload = try Workload.prepare(peers: peers, data: data, events: events, users: users)
        // First, while this process is small: a child's peak RSS as wait4 reports it starts
        // from the parent's at the spawn.
        let reference = try workload.runReference()
        workload.movedMetres = try Workload.moved(workload.events)
        print(String(format: "reference CPython, one thread:   %9.0f events/s, CPU %6.1f s, peak RSS %5.0f MiB",
                     reference.rate, reference.cpuSeconds, Double(reference.peakKiB) / 1024))
        let lines = try workload.contractLines()
        let pipeline = try workload.clubdPipeline()
        for size in frames.split(separator: ",").compactMap({ Int($0) }) {
            let run = try ClubdRun.measure(TelemetryBench.batched(lines, size), samples: lines.count, pipeline: pipeline, defaults: defaultPipelines, config: config)
            print(String(format: "clubd, %3d event(s) per frame:   %9.0f events/s, CPU %6.1f s, peak RSS %5.0f MiB; ratio to the reference %.2f",
                         size, run.rate, run.cpuSeconds, Double(run.peakKiB) / 1024, run.rate / reference.rate))
            let check = WindowCheck(expected: reference.boards, actual: run.boards, movedMetres: workload.movedMetres)
            print("          windows: \(check)")
            if !check.agrees { throw ValidationError("clubd's windows differ from the reference beyond the cumulative-distance rule") }
        }
    }
}

/// One row of a window's top 10, as the reference job writes it.
struct BoardRow: Equatable {
    var user: String
    var distance: Double
    var count: Int
    var averageHeartRate: Double
    var maxHeartRate: Double
}

/// Per window start, its top 10 users by distance (ties by user id).
typealias Boards = [Int: [BoardRow]]

/// The workload's files, generated (and converted) once into `data`.
struct Workload {
    let peers: URL
    let events: URL
    let contract: URL
    let directory: URL
    /// Per (user, window start): metres that the contract's cumulative counter moves into the
    /// window from samples the reference drops as late (the next sample's counter carries them).
    var movedMetres: [WindowKey: Double] = [:]

    struct WindowKey: Hashable {
        let user: String
        let start: Int
    }

    static func prepare(peers: String, data: String, events: Int, users: Int) throws -> Workload {
        let peersDir = URL(fileURLWithPath: peers)
        guard FileManager.default.fileExists(atPath: peersDir.appendingPathComponent("gen_telemetry.py").path) else {
            throw ValidationError("no gen_telemetry.py in \(peers): pass --peers DIR (the peers' job directory)")
        }
        let dir = URL(fileURLWithPath: data)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let eventsFile = dir.appendingPathComponent("events-\(events)-\(users).jsonl")
        let contractFile = dir.appendingPathComponent("contract-\(events)-\(users).jsonl")
        if !FileManager.default.fileExists(atPath: eventsFile.path) {
            try MeasuredChild.run(["python3", peersDir.appendingPathComponent("gen_telemetry.py").path, "file", "--out", eventsFile.path,
                                   "-n", "\(events)", "--users", "\(users)"]).check("gen_telemetry.py")
        }
        if !FileManager.default.fileExists(atPath: contractFile.path) {
            try MeasuredChild.run(["python3", peersDir.appendingPathComponent("to_contract.py").path, eventsFile.path, contractFile.path])
                .check("to_contract.py")
        }
        return Workload(peers: peersDir, events: eventsFile, contract: contractFile, directory: dir)
    }

    /// The reference's rule (one global watermark, newest ts − 5 s; a sample whose window ended
    /// at or before it is late) over the original workload, and where the cumulative counter
    /// puts each late sample's metres: into the window of its user's next sample not late.
    static func moved(_ file: URL) throws -> [WindowKey: Double] {
        struct Sample { let ts: Int; let seq: Int; let distance: Double; let late: Bool }
        var byUser: [String: [Sample]] = [:]
        var newest = Int.min
        for line in try Data(contentsOf: file).split(separator: UInt8(ascii: "\n")) {
            let event = try JSONValue.parse(Array(line))
            guard let user = event["user"]?.stringValue, let ts = event["ts"]?.int64Value, let seq = event["seq"]?.int64Value,
                  let distance = event["dist_m"]?.doubleValue else { continue }
            newest = max(newest, Int(ts))
            let late = Int(ts) / 60_000 * 60_000 + 60_000 <= newest - 5_000
            byUser[user, default: []].append(Sample(ts: Int(ts), seq: Int(seq), distance: distance, late: late))
        }
        var moved: [WindowKey: Double] = [:]
        for (user, samples) in byUser {
            var carried = 0.0
            for sample in samples.sorted(by: { $0.seq < $1.seq }) {
                if sample.late {
                    carried += sample.distance
                } else if carried > 0 {
                    moved[WindowKey(user: user, start: sample.ts / 60_000 * 60_000), default: 0] += carried
                    carried = 0
                }
            }
        }
        return moved
    }

    /// The contract's telemetry events, one per line, as ingest frames of one event.
    func contractLines() throws -> [[UInt8]] {
        try Data(contentsOf: contract).split(separator: UInt8(ascii: "\n")).map { Array($0) }
    }

    /// The job's pipeline for clubd, its users' windows closed after 10 s of quiet on the
    /// daemon's clock, as the reference fires every window at the end of its input. (With 2 s,
    /// a pause of the loop that long under the flood closed users whose next samples were
    /// still waiting in the inbox, and those samples went to `late`.)
    func clubdPipeline() throws -> String {
        let text = try String(contentsOf: peers.appendingPathComponent("peer-pipeline.yaml"), encoding: .utf8)
        guard let range = text.range(of: "out_of_orderness: 5s") else {
            throw ValidationError("peer-pipeline.yaml has no 'out_of_orderness: 5s' line to add idle_timeout after")
        }
        return text.replacingCharacters(in: range, with: "out_of_orderness: 5s\n    idle_timeout: 10s")
    }

    /// The reference job, timed by itself (first event to last); CPU and peak RSS of its process.
    func runReference() throws -> (rate: Double, cpuSeconds: Double, peakKiB: Int, boards: Boards) {
        let output = directory.appendingPathComponent("reference-\(events.lastPathComponent)")
        let child = try MeasuredChild.run(
            ["python3", peers.appendingPathComponent("reference_job.py").path, "--input", events.path, "--out", output.path])
        try child.check("reference_job.py")
        var boards: Boards = [:]
        var rate = 0.0
        for line in try Data(contentsOf: output).split(separator: UInt8(ascii: "\n")) {
            let record = try JSONValue.parse(Array(line))
            if record["type"]?.stringValue == "summary" { rate = record["events_per_s"]?.doubleValue ?? 0 }
            guard record["type"]?.stringValue == "leaderboard", let start = record["window_start"]?.int64Value,
                  case .array(let top) = record["top"] ?? .null else { continue }
            boards[Int(start)] = top.map {
                BoardRow(user: $0["user"]?.stringValue ?? "", distance: $0["dist_m"]?.doubleValue ?? 0, count: Int($0["count"]?.int64Value ?? 0),
                         averageHeartRate: $0["avg_hr"]?.doubleValue ?? 0, maxHeartRate: $0["max_hr"]?.doubleValue ?? 0)
            }
        }
        return (rate, child.cpuSeconds, child.peakKiB, boards)
    }
}

/// Windows of clubd against the reference's: per window its top 10 users, their counts and
/// heart rates equal, distances equal once the metres of samples dropped as late are moved
/// where the contract's cumulative counter puts them.
struct WindowCheck: CustomStringConvertible {
    var windowsExpected = 0
    var windowsActual = 0
    var rowsEqual = 0
    /// Rows equal only once late samples' metres are moved by the cumulative rule.
    var rowsMoved = 0
    /// Windows whose top 10 differ only by users the moved metres lift in or push out.
    var windowsReordered = 0
    var differences: [String] = []

    var agrees: Bool { differences.isEmpty && rowsEqual > 0 }

    init(expected: Boards, actual: Boards, movedMetres: [Workload.WindowKey: Double]) {
        windowsExpected = expected.count
        windowsActual = actual.count
        for start in Set(expected.keys).union(actual.keys).sorted() {
            guard let wanted = expected[start], let got = actual[start] else {
                differences.append("window \(start): only in \(expected[start] == nil ? "clubd" : "the reference")")
                continue
            }
            let gotByUser = Dictionary(got.map { ($0.user, $0) }, uniquingKeysWith: { a, _ in a })
            var reordered = false
            for row in wanted {
                let moved = movedMetres[Workload.WindowKey(user: row.user, start: start)] ?? 0
                guard let other = gotByUser[row.user] else {
                    // Pushed out of the top 10 by someone whose late metres moved in.
                    if got.contains(where: { movedMetres[Workload.WindowKey(user: $0.user, start: start)] != nil }) {
                        reordered = true
                    } else {
                        differences.append("window \(start): \(row.user) missing from clubd's top 10")
                    }
                    continue
                }
                guard other.count == row.count, abs(other.averageHeartRate - row.averageHeartRate) <= 0.01,
                      other.maxHeartRate == row.maxHeartRate else {
                    differences.append("window \(start) \(row.user): count/heart rate \(other) vs \(row)")
                    continue
                }
                if abs(other.distance - row.distance) <= 0.01 {
                    rowsEqual += 1
                } else if abs(other.distance - row.distance - moved) <= 0.01 {
                    rowsMoved += 1
                } else {
                    differences.append("window \(start) \(row.user): \(other.distance) m vs \(row.distance) m (+\(moved) moved)")
                }
            }
            if reordered { windowsReordered += 1 }
        }
    }

    var description: String {
        var text = "\(windowsActual) of \(windowsExpected) expected; \(rowsEqual) rows equal, \(rowsMoved) equal once late metres move "
            + "by the cumulative-distance rule, \(windowsReordered) windows reordered by them; \(differences.count) differences"
        for difference in differences.prefix(5) { text += "\n            \(difference)" }
        return text
    }
}

/// One clubd run of the job.
enum ClubdRun {
    struct Result {
        var rate: Double
        var cpuSeconds: Double
        var peakKiB: Int
        var boards: Boards
    }

    /// Runs `frames` (holding `samples` events) through ``DaemonRun/measure`` — rate from the
    /// first frame sent until `health` counts them processed, peak RSS — adding the daemon's
    /// CPU time over the same span; then waits for the last windows to close and builds each
    /// window's top 10 from every `window.` result published.
    static func measure(_ frames: [[UInt8]], samples: Int, pipeline: String, defaults: Bool, config: String?) throws -> Result {
        var pipelines = ["peer.yaml": pipeline]
        if defaults { pipelines["default.yaml"] = PipelineLoader.embeddedDefault }
        var collector: WindowCollector?
        var cpuBefore = 0.0
        var cpu = 0.0
        let run = try DaemonRun.measure(
            frames, pipelines: pipelines, samples: samples, prepare: { _ in config.map { ["--config", $0] } ?? [] },
            ready: { daemon in
                collector = try WindowCollector(daemon)
                cpuBefore = ProcessCPU.seconds(daemon.processIdentifier!)
            },
            inspect: { daemon in
                cpu = ProcessCPU.seconds(daemon.processIdentifier!) - cpuBefore
                let deadline = Date().addingTimeInterval(60)
                while try daemon.request(["op": "health"])["open_windows"]?.int64Value ?? 1 > 0, Date() < deadline {
                    Thread.sleep(forTimeInterval: 0.1)
                }
                Thread.sleep(forTimeInterval: 0.5)
            })
        return Result(rate: run.rate, cpuSeconds: cpu, peakKiB: run.rss.peak, boards: boards(collector?.finish() ?? []))
    }

    /// The top 10 of each window from the published results (an update replaces its window).
    static func boards(_ payloads: [[UInt8]]) -> Boards {
        var latest: [Int: [String: BoardRow]] = [:]
        for bytes in payloads {
            guard let p = try? JSONValue.parse(bytes), p["pipeline"]?.stringValue == "peer", let user = p["user"]?.stringValue,
                  let start = p["start"]?.int64Value else { continue }
            latest[Int(start), default: [:]][user] = BoardRow(
                user: user, distance: p["distance_m"]?.doubleValue ?? 0, count: Int(p["samples"]?.int64Value ?? 0),
                averageHeartRate: p["avg_hr"]?.doubleValue ?? 0, maxHeartRate: p["max_hr"]?.doubleValue ?? 0)
        }
        return latest.mapValues { rows in
            Array(rows.values.sorted { ($0.distance, $1.user) > ($1.distance, $0.user) }.prefix(10))
        }
    }
}

/// Every `window.` payload a daemon publishes, received on a thread of its own.
final class WindowCollector: Sendable {
    private let payloads = Mutex<[[UInt8]]>([])
    private let stop = Atomic(false)
    private let receiving = DispatchGroup()
    private let context = ZMQContext()

    init(_ daemon: DaemonProcess) throws {
        let sub = try ZMQSocket(context: context, type: .sub)
        try sub.set(.receiveHighWaterMark, 0)
        try sub.set(.receiveTimeout, 100)
        try sub.subscribe("window.")
        try sub.connect(daemon.publish)
        receiving.enter()
        Thread { [self] in
            defer {
                sub.close()
                receiving.leave()
            }
            while !stop.load(ordering: .relaxed) {
                guard let message = (try? sub.receiveMessage()) ?? nil else { continue }
                if let payload = message.last { payloads.withLock { $0.append(payload) } }
            }
        }.start()
        Thread.sleep(forTimeInterval: 0.2)  // the subscription reaches the daemon
    }

    /// Stops receiving. - Returns: every payload received.
    func finish() -> [[UInt8]] {
        stop.store(true, ordering: .relaxed)
        receiving.wait()
        return payloads.withLock { $0 }
    }
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
enum ProcessCPU {
    static func seconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        // Fields after the command's closing parenthesis: state is field 3; utime and stime 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A child process run to its end, with the CPU time and peak resident memory the kernel
/// accounted to it (wait4), which Foundation's Process does not report.
struct MeasuredChild {
    var status: Int32
    var cpuSeconds: Double
    var peakKiB: Int

    static func run(_ arguments: [String]) throws -> MeasuredChild {
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawnp(&pid, arguments[0], nil, nil, argv, environ)
        guard spawned == 0 else { throw ValidationError("could not start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return MeasuredChild(status: status, cpuSeconds: cpu, peakKiB: usage.ru_maxrss)
    }

    func check(_ what: String) throws {
        guard status == 0 else { throw ValidationError("\(what) failed (wait status \(status))") }
    }
}
