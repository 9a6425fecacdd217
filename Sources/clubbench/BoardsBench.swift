import ArgumentParser
import ClubClient
import ClubTestKit
import Foundation
import JSON
import Pipeline
import Simulation
import Synchronization
import ZMQ

/// The cost of leaderboards: the same stream — telemetry, with one finished workout per ten
/// samples — through the foundation's pipeline alone, and with 12 boards ranking the
/// workouts, in the same run; and the `leaderboard` query latency while the second one runs
/// (see ``QueryLatency``).
struct BoardsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boards", abstract: "Throughput with 12 leaderboards beside the pipeline without them; query latency.")

    @Option(help: "Telemetry samples to send.") var events = 1_000_000
    @Option(help: "Users in the simulated fleet.") var users = 100_000
    @Option(help: "Rounds of the two configurations, alternated.") var rounds = 3

    static let boards = """
        name: leaderboards
        time_zone: Europe/Moscow
        publish_interval: 1s
        leaderboards:
          - {id: day-distance, metric: distance, period: day}
          - {id: week-distance, metric: distance, period: week}
          - {id: month-distance, metric: distance, period: month}
          - {id: year-distance, metric: distance, period: year}
          - {id: all-distance, metric: distance, period: all_time}
          - {id: week-moving, metric: moving_time, period: week}
          - {id: week-workouts, metric: workouts, period: week}
          - {id: month-elevation, metric: elevation_gain, period: month}
          - {id: week-run-by-region, metric: distance, period: week, scope: each_region, sport: run}
          - {id: best-5k, metric: best_time, band: [5000, 5500], period: all_time}
          - {id: group, metric: distance, period: week, scope: {users: [u0, u1, u2, u3, u4, u5, u6, u7, u8, u9]}}
          - {id: day-duration, metric: duration, period: day}
        """

    func run() throws {
        let options = FleetSimulator.Options.endingNow(users: users, events: events)
        var fleet = FleetSimulator(options: options)
        var frames: [[UInt8]] = []
        frames.reserveCapacity(events + events / 10)
        var rng = SplitMix(seed: 7)
        var workouts = 0
        while frames.count - workouts < events {
            frames += fleet.nextFrames()
            if frames.count % 10 == 0 {
                // A workout of a random user, from a device or a service, some of them copies.
                let user = Int(rng.next() % UInt64(users))
                let start = options.startTs - Int64(rng.next() % 86_400_000)
                let minutes = 20 + Int(rng.next() % 60)
                frames.append(
                    Array(
                        #"{"type":"workout","id":"w\#(workouts)","user":"u\#(user)","source":"\#(["device", "strava"][workouts % 2])","sport":"\#(["run", "ride"][workouts % 3 == 0 ? 1 : 0])","start":\#(start),"duration_s":\#(minutes * 60),"distance_m":\#(minutes * 180),"elevation_gain_m":\#(minutes)}"#
                            .utf8))
                workouts += 1
            }
        }
        print("frames: \(frames.count - workouts) telemetry samples from \(users) users and \(workouts) workouts")

        // Alternate the two configurations, so that the machine's drift (it is shared) weighs
        // on both alike, and compare the medians.
        let minute = ["minute.yaml": PipelineLoader.embeddedDefault]
        var withoutRates: [Double] = []
        var withRates: [Double] = []
        var without: DaemonRun.Result!
        var with: DaemonRun.Result!
        let queries = try QueryLatency()
        for round in 1...rounds {
            without = try DaemonRun.measure(frames, pipelines: minute, samples: events)
            withoutRates.append(without.rate)
            with = try DaemonRun.measure(frames, pipelines: minute.merging(["boards.yaml": Self.boards]) { $1 }, samples: events, alongside: { daemon, done in
                queries.run(daemon: daemon.command, done: done)
            })
            withRates.append(with.rate)
            print(String(format: "round %d   without boards %10.0f events/s, with 12 boards %10.0f events/s", round, without.rate, with.rate))
        }
        print(String(format: "baseline  pipeline without boards (median):         %10.0f events/s", withoutRates.median))
        print(String(format: "clubd     with 12 boards ranking the workouts:       %10.0f events/s", withRates.median))
        let ratio = withRates.median / withoutRates.median
        print(String(format: "ratio     with / without = %.3f  (boards cost %.1f %%)", ratio, (1 - ratio) * 100))
        queries.stop()
        queries.report().forEach { print($0) }
        if !queries.realtimePermitted { print("query     real-time client skipped: real-time scheduling is refused here") }
        print("boards    users ranked on week-distance when the last query ran: \(queries.lastRanked)")
        print("snapshot  after the last round: without boards \(without.snapshot), with boards \(with.snapshot)")
        print("RSS MiB   without boards peak \(without.rss.peak / 1024), with boards peak \(with.rss.peak / 1024)")
    }
}
