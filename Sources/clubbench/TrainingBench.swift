import ArgumentParser
import ClubClient
import ClubTestKit
import Foundation
import GRDB
import JSON
import Storage
import ZMQ

/// The cost of programmes: one recorded activity log — `--users` members enrolled in an
/// eight-week plan and `--workouts` runs — replayed by the training stage from offset 0 with
/// an empty catalogue and with the plan, in alternating rounds of the same run. The runs fall
/// on the plan's days, four in five long enough for their step, so the stage completes and
/// misses steps (and raises their events) as members would.
struct TrainingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "training", abstract: "Training stage throughput with programmes beside the same log without them.")

    @Option(help: "Members, each enrolled in the plan.") var users = 100_000
    @Option(help: "Workouts in the log, spread over the members.") var workouts = 1_000_000
    @Option(help: "Rounds of the two configurations, alternated.") var rounds = 3

    static let day: Int64 = 86_400_000
    /// Days of the plan's 24 steps: three a week for eight weeks.
    static let days = (0..<24).map { ($0 / 3) * 7 + [1, 3, 5][$0 % 3] }

    /// The plan: run/walk steps of 20 to 31 minutes.
    static var catalogue: String {
        var text = "exercises:\n"
        for week in 0..<8 { text += "  - {id: w\(week + 1), title: Week \(week + 1) run, sport: run, targets: {duration_s: \(1200 + week * 90)}}\n" }
        text += "programmes:\n  - id: plan\n    title: Eight weeks\n    sport: run\n    weeks: 8\n    steps:\n"
        for (i, day) in days.enumerated() { text += "      - {step: \(i + 1), day: \(day), exercise: w\(i / 3 + 1)}\n" }
        return text
    }

    func run() throws {
        let daemon = try DaemonProcess()
        let plan = try daemon.writeCatalogue(["plan.yaml": Self.catalogue])
        let rules = try daemon.writeBonusRules("rules: []\n")  // the training stage alone
        let empty = daemon.directory.appendingPathComponent("no-catalogue")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let raised = try record(into: daemon, flags: plan + rules)
        say("log: \(users) enrolments, \(workouts) workouts; the plan raised \(raised) step and programme events")
        var rates: [String: [Double]] = [:]
        for round in 1...rounds {
            for (name, flags) in [("no programmes", rules + ["--catalogue", empty.path]), ("programmes", plan + rules)] {
                let rate = try replay(daemon, flags: flags)
                rates[name, default: []].append(rate)
                say(String(format: "round %d  training stage, %@: %9.0f log entries/s", round, name.padding(toLength: 13, withPad: " ", startingAt: 0), rate))
            }
        }
        let (bare, planned) = (rates["no programmes"]!.median, rates["programmes"]!.median)
        say(String(format: "median   no programmes %.0f/s, programmes %.0f/s: programmes cost %.1f %%", bare, planned, (bare / planned - 1) * 100))
    }

    /// Writes a line at once (print buffers when the output is a file, and a run is long).
    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    /// Fills the log: enrolments first, then the runs in time order, through `submit`.
    /// - Returns: how many events the plan raised while recording.
    private func record(into daemon: DaemonProcess, flags: [String]) throws -> Int {
        try daemon.start(extraArguments: ["--log-level", "warning"] + flags, healthTimeout: 600)
        defer { daemon.kill() }  // a large training state takes longer to save than shutdown.timeout allows (docs/performance.md)
        let client = CommandClient(context: ZMQContext(), endpoint: daemon.command, timeout: 120_000, retries: 1)
        let perUser = max(1, workouts / users)
        let start = Int64(Date().timeIntervalSince1970 * 1000) / Self.day * Self.day - Int64(Self.days[perUser - 1] + 2) * Self.day
        var batcher = SubmitBatcher(client: client, refuseRejections: true)
        for user in 0..<users {
            try batcher.add(#"{"type":"programme.enrolled","id":"en\#(user)","user":"u\#(user)","programme":"plan","start":\#(start)}"#)
        }
        var n = 0
        for k in 0..<perUser {
            for user in 0..<users where n < workouts {
                // The step's day, at a time of day of the user's; one run in five too short for its step.
                let at = start + Int64(Self.days[min(k, Self.days.count - 1)] - 1) * Self.day + Int64(6 + user % 14) * 3_600_000
                let minutes = (n % 5 == 4 ? 15 : 22 + k * 2 % 12) + user % 7
                let text =
                    #"{"type":"workout","id":"r\#(n)","user":"u\#(user)","source":"device","sport":"run","start":\#(at),"duration_s":\#(minutes * 60),"distance_m":\#(minutes * 160 + user % 500)}"#
                try batcher.add(text)
                n += 1
            }
        }
        try batcher.flush()
        // Every consumer: the others commit as they go, so the kill that ends the round loses nothing of theirs.
        try daemon.waitForStages(["training", "bonus", "offers", "activity-feed"], timeout: 1800)
        let queue = try DatabaseQueue(path: daemon.databasePath)
        return try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM activity WHERE type LIKE 'training.%'") ?? 0 }
    }

    /// Starts the daemon with the training stage's state, offset and raised events removed,
    /// and measures how fast the stage applies the whole log.
    private func replay(_ daemon: DaemonProcess, flags: [String]) throws -> Double {
        let queue = try DatabaseQueue(path: daemon.databasePath)
        let entries = try queue.write { db -> Int in
            try db.execute(sql: "DELETE FROM consumer_state WHERE name = 'training'")
            try db.execute(sql: "DELETE FROM consumer_offset WHERE name = 'training'")
            try db.execute(sql: "DELETE FROM activity WHERE type LIKE 'training.%'")
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM activity") ?? 0
        }
        try queue.close()
        try daemon.start(extraArguments: ["--log-level", "warning"] + flags, healthTimeout: 600)
        defer { daemon.kill() }  // a large training state takes longer to save than shutdown.timeout allows (docs/performance.md)
        let started = DispatchTime.now()
        try daemon.waitForStages(["training"], timeout: 1800)
        return Double(entries) / started.elapsedSeconds
    }
}
