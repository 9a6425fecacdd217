import ArgumentParser
import ClubTestKit
import Foundation
import GRDB
import JSON
import Pipeline
import Simulation

/// The cost of the Community subsystem's detectors on the telemetry path: the same fleet (runners
/// in groups of 2–8, each group with a session at its meeting point) streamed through clubd with
/// running-together detection off and no sessions, then with both, in the same invocation.
struct CommunityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "community", abstract: "Ran-together and attendance detection beside the same stream without them.")

    @Option(help: "Concurrently active users.") var users = 10_000
    @Option(help: "Minutes of event time (a sample every 5 s per user; at least 10 for running together).") var minutes = 12
    @Option(help: "Rounds of the two configurations, alternated.") var rounds = 1

    func run() throws {
        var options = FleetSimulator.Options()
        options.users = users
        options.sampleInterval = 5_000
        options.samplesPerSession = minutes * 12 + 1
        options.groupSizes = 2...8
        let samplesPerUser = minutes * 12
        options.startTs = Int64(Date().timeIntervalSince1970 * 1000) - Int64(samplesPerUser) * options.sampleInterval
        var fleet = FleetSimulator(options: options)
        let places = fleet.groups.map { fleet.position(of: $0.lowerBound) }
        var singles: [[UInt8]] = []
        while singles.count < users * samplesPerUser { singles += fleet.nextFrames() }
        // Frames of 100 samples, as a gateway batches them.
        var frames: [[UInt8]] = []
        for chunk in stride(from: 0, to: singles.count, by: 100) {
            frames.append(Array("[".utf8) + singles[chunk..<min(chunk + 100, singles.count)].joined(separator: Array(",".utf8)) + Array("]".utf8))
        }
        let groups = fleet.groups
        print("fleet: \(users) users in \(groups.count) groups of 2–8, \(singles.count) samples over \(minutes) min of event time, frames of 100")
        let setup = Self.setup(groups: groups, places: places, start: options.startTs + 120_000, duration: (minutes - 2) * 60)

        var rates: [String: [Double]] = [:]
        var endRSS: [String: [Int]] = [:]
        for round in 1...rounds {
            for detecting in [false, true] {
                var raised = (attended: 0, together: 0)
                var rssBefore = 0
                let run = try DaemonRun.measure(
                    frames, pipelines: ["minute.yaml": PipelineLoader.embeddedDefault], samples: singles.count,
                    prepare: { daemon in
                        let file = daemon.directory.appendingPathComponent("bench.yaml")
                        try "community: {together: \(detecting), together_idle: 10s, attendance_grace: 0s}\n".write(
                            to: file, atomically: true, encoding: .utf8)
                        return ["--config", file.path]
                    },
                    ready: { daemon in
                        if detecting { try Self.submit(setup, to: daemon) }
                        rssBefore = Self.rss(of: daemon)
                    },
                    inspect: { daemon in
                        guard detecting else { return }
                        raised = try Self.waitForRaised(daemon, groups: groups.count)
                    })
                let name = detecting ? "with detection" : "without"
                rates[name, default: []].append(run.rate)
                endRSS[name, default: []].append(run.rss.samples.last ?? 0)
                print(
                    String(
                        format: "round %d  %@: %9.0f samples/s; RSS %d → %d MiB (peak %d)", round, name.padding(toLength: 14, withPad: " ", startingAt: 0),
                        run.rate, rssBefore / 1024, run.rss.samples.last.map { $0 / 1024 } ?? 0, run.rss.peak / 1024))
                if detecting {
                    // Against the run without detection just before: what the detectors hold.
                    let extra = (run.rss.samples.last ?? 0) - (endRSS["without"]?.last ?? 0)
                    print(
                        "          raised: \(raised.together) community.ran_together (of \(groups.count) groups), \(raised.attended) session.attended; "
                            + String(format: "%.0f bytes of RSS per active user beyond the run without", Double(extra) * 1024 / Double(users)))
                }
            }
        }
        let without = rates["without"]!.median
        let with = rates["with detection"]!.median
        print(String(format: "ratio     with / without = %.3f (cost %.1f %% of the telemetry throughput)", with / without, (without / with - 1) * 100))
    }

    /// Each group, its members, and a session at its first runner's start.
    static func setup(groups: [Range<Int>], places: [(latitude: Double, longitude: Double)], start: Int64, duration: Int) -> [JSONValue] {
        var events: [JSONValue] = []
        for (g, members) in groups.enumerated() {
            let leader = members.lowerBound
            events.append(
                try! JSONValue.parse(
                    #"{"type":"group.created","id":"bg-\#(g)","user":"u-\#(leader)","group":"g-\#(g)","kind":"coached","title":"Group \#(g)","coach":"u-\#(leader)"}"#))
            for m in members.dropFirst() {
                events.append(try! JSONValue.parse(#"{"type":"group.joined","id":"bj-\#(m)","user":"u-\#(m)","group":"g-\#(g)"}"#))
            }
            let p = places[g]
            events.append(
                try! JSONValue.parse(
                    #"{"type":"session.scheduled","id":"bs-\#(g)","user":"u-\#(leader)","session":"s-\#(g)","group":"g-\#(g)","start":\#(start),"duration_s":\#(duration),"sport":"run","place":{"lat":\#(p.latitude),"lon":\#(p.longitude),"radius_m":200}}"#))
        }
        return events
    }

    static func submit(_ setup: [JSONValue], to daemon: DaemonProcess) throws {
        for chunk in stride(from: 0, to: setup.count, by: 1000) {
            let reply = try daemon.request(["op": "submit", "events": .array(Array(setup[chunk..<min(chunk + 1000, setup.count)]))])
            guard reply["rejected"]?.arrayValue?.isEmpty ?? false else { throw ValidationError("setup refused: \(reply.jsonText.prefix(300))") }
        }
        try daemon.waitForStages(["community"], timeout: 120)
    }

    /// Waits for the detectors to decide (the tracks end `together_idle`, 10 s, after the stream:
    /// the bench's sender pauses for a second or two now and then, a shorter idle would end
    /// tracks mid-stream).
    static func waitForRaised(_ daemon: DaemonProcess, groups: Int) throws -> (attended: Int, together: Int) {
        let queue = try DatabaseQueue(path: daemon.databasePath, configuration: { var c = Configuration(); c.readonly = true; return c }())
        var counts = (attended: 0, together: 0)
        var stable = 0
        for _ in 0..<900 {
            Thread.sleep(forTimeInterval: 0.1)
            let now = try queue.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM activity WHERE type = 'session.attended'") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM activity WHERE type = 'community.ran_together'") ?? 0
                )
            }
            stable = now == counts && now.1 > 0 ? stable + 1 : 0
            counts = now
            if stable >= 20 { break }
        }
        return counts
    }

    static func rss(of daemon: DaemonProcess) -> Int {
        var tracker = RSSTracker(pid: daemon.processIdentifier!)
        tracker.sample()
        return tracker.samples.last ?? 0
    }
}
