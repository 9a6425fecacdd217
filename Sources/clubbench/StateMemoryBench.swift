import ArgumentParser
import ClubRuntime
import Events
import Foundation
import Telemetry
import Users

#if canImport(CMalloc)
import CMalloc
#endif

/// Where the telemetry state's memory goes: the peers' workload (see `peers-job`) decoded once,
/// then replayed through each state machine of the daemon's telemetry path on its own, in
/// ingest-sized batches, measuring the heap each one holds afterwards (glibc's `mallinfo2`:
/// bytes in use, not pages touched) and its snapshot's size. No daemon, no sockets: the state
/// alone, so that a change to a state's layout is measured without the noise of a run.
struct StateMemoryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state-memory", abstract: "Heap held by each telemetry state machine after the peers' workload.")

    @Option(help: "The peers' job directory (gen_telemetry.py, to_contract.py).") var peers = "../shared/bench/peers-job"
    @Option(help: "Where the generated workload is kept between runs.") var data = "/tmp/clubbench-peers"
    @Option(help: "Events of the workload.") var events = 1_000_000
    @Option(help: "Users of the workload.") var users = 10_000
    @Option(help: "Events per batch, as the ingest thread hands them on (1 MiB of frames).") var batch = 7_700

    func run() throws {
        let workload = try Workload.prepare(peers: peers, data: data, events: events, users: users)
        let decoder = EventDecoder()
        let now = Clock.nowMillis()
        var batches: [[TelemetrySample]] = []
        var decoded = DecodedEvents()
        for line in try workload.contractLines() {
            decoder.decode(frame: line, now: now + decoder.limits.maxFutureMillis, into: &decoded)
            if decoded.samples.count >= batch {
                batches.append(decoded.samples)
                decoded = DecodedEvents()
            }
        }
        batches.append(decoded.samples)
        let samples = batches.reduce(0) { $0 + $1.count }
        print("\(samples) samples of \(users) users in \(batches.count) batches")

        let peerSpec = WindowSpec(kind: .tumbling(size: 60_000), allowedLateness: 0, outOfOrderness: 5_000, idleTimeout: 10_000)
        measure("window operator, the peers' spec (1 min, no lateness)") {
            var op = WindowOperator(spec: peerSpec)
            for b in batches { _ = op.process(b, now: now) }
            print("  \(op.footprint)")
            return (op, op.snapshot().count)
        }
        measure("window operator, the history's minutes (1 min, 2 min lateness)") {
            var op = WindowOperator(spec: HistorySettings().spec)
            for b in batches { _ = op.process(b, now: now) }
            print("  \(op.footprint)")
            return (op, op.snapshot().count)
        }
        measure("personal-record tracker (1, 5, 10 km)") {
            var tracker = EffortTracker(distances: [1000, 5000, 10000])
            for b in batches { _ = tracker.process(b, now: now) }
            return (tracker, tracker.sessionEntries().reduce(0) { $0 + $1.entry.count })  // as the daemon writes it
        }
        measure("history's raw samples before a snapshot (shared minutes)") {
            var recorder = HistoryRecorder(settings: HistorySettings(), sharedMinutes: true)
            for b in batches { recorder.record(b, windows: WindowOutput(), now: now) }
            return (recorder, recorder.bufferedBytes)
        }
    }

    /// Runs `body` and prints the heap bytes what it returns holds (the rest is freed by then).
    private func measure<T>(_ label: String, _ body: () -> (T, Int)) {
        let before = Self.heapInUse()
        let started = DispatchTime.now()
        let (state, encoded) = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let held = Self.heapInUse() - before
        print(String(format: "%-64@ %7.1f MiB held (%5.0f B per user), encoded %6.1f MiB, %.2f s",
                     label, Double(held) / 1_048_576, Double(held) / Double(users), Double(encoded) / 1_048_576, seconds))
        withExtendedLifetime(state) {}
    }

    /// Bytes handed out by malloc and not freed (small chunks and mmapped ones).
    static func heapInUse() -> Int {
        #if canImport(CMalloc)
        let info = mallinfo2()
        return Int(info.uordblks) + Int(info.hblkhd)
        #else
        return 0
        #endif
    }
}
