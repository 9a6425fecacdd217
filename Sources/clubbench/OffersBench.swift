import ArgumentParser
import ClubClient
import ClubTestKit
import Foundation
import JSON
import Storage
import ZMQ

/// The cost of offer rules: one recorded activity log replayed by the offer stage with no
/// rules and with `--rules` rules, in alternating rounds of the same run. Rules are indexed
/// by trigger; every condition but that of the last, lowest-priority rule of each trigger
/// fails, so each event evaluates all of its trigger's rules, and about one event in 90
/// issues an offer.
struct OffersBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offers", abstract: "Offer stage throughput with many rules beside the same log with none.")

    @Option(help: "Activity events in the log.") var events = 200_000
    @Option(help: "Users the events belong to.") var users = 10_000
    @Option(help: "Offer rules in the second configuration.") var rules = 1_000
    @Option(help: "Rounds of the two configurations, alternated.") var rounds = 3

    static let types = [
        "class.attended", "forum.posted", "club.joined", "workout", "contest.finished", "challenge.completed",
        "class.booked", "store.visited", "review.posted", "friend.invited",
    ]
    static let regions = ["RU-MOW", "RU-SPE", "RU-KDA", "RU-SVE", "RU-TAT"]

    func run() throws {
        let daemon = try DaemonProcess()
        try record(into: daemon)
        let flags = try daemon.writeOfferRules(["bench.yaml": Self.ruleFile(count: rules)])
        var rates: [String: [Double]] = [:]
        for round in 1...rounds {
            for (name, extra) in [("no rules", [String]()), ("\(rules) rules", flags)] {
                let rate = try replay(daemon, flags: extra)
                rates[name, default: []].append(rate)
                print(String(format: "round %d  offer stage, %@: %9.0f events/s", round, name.padding(toLength: 11, withPad: " ", startingAt: 0), rate))
            }
        }
        let (bare, loaded) = (rates["no rules"]!.median, rates["\(rules) rules"]!.median)
        print(String(format: "median   no rules %.0f events/s, %d rules %.0f events/s: cost x%.2f", bare, rules, loaded, bare / loaded))
    }

    /// Fills the daemon's activity log with the benchmark's events, then stops it.
    private func record(into daemon: DaemonProcess) throws {
        try daemon.start(extraArguments: ["--log-level", "warning"])
        defer { daemon.terminate() }
        let client = CommandClient(context: ZMQContext(), endpoint: daemon.command, timeout: 60_000, retries: 1)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var batcher = SubmitBatcher(client: client)
        for user in 0..<users {
            try batcher.add(#"{"type":"profile","id":"p\#(user)","user":"u\#(user)","region":"\#(Self.regions[user % Self.regions.count])"}"#)
        }
        for n in 0..<(events - users) {
            let type = Self.types[n % Self.types.count]
            let at = now - 20 * 86_400_000 + Int64(n) * 5_000
            let user = "u\(n * 7 % users)"
            let text =
                type == "workout"
                ? #"{"type":"workout","id":"e\#(n)","user":"\#(user)","source":"device","sport":"run","start":\#(at),"duration_s":1800,"distance_m":\#(3000 + n % 9000)}"#
                : #"{"type":"\#(type)","id":"e\#(n)","user":"\#(user)","ts":\#(at),"minutes":\#(n % 90),"kind":"k\#(n % 13)"}"#
            try batcher.add(text)
        }
        try batcher.flush()
        try daemon.waitForStages(["training", "offers"], timeout: 600)
    }

    /// Starts the daemon on the recorded log with the offer stage's database removed (so the
    /// training stage, which hands the offer stage its entries and facts, rebuilds too), and
    /// measures how fast the stage applies the whole log, start-up included.
    private func replay(_ daemon: DaemonProcess, flags: [String]) throws -> Double {
        let offers = ClubStore.offersPath(besides: daemon.databasePath)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: offers + suffix) }
        // Timed from the start: the stages begin before the daemon answers `health`, and how
        // far they got by then differs between the configurations.
        let start = DispatchTime.now()
        try daemon.start(extraArguments: ["--log-level", "warning"] + flags)
        defer { daemon.terminate() }
        // The whole log: the events recorded and what the training stage raised from them.
        try daemon.waitForStages(["offers"], timeout: 600)
        let seconds = start.elapsedSeconds
        let last = try daemon.request(["op": "health"])["offers_offset"]?.int64Value ?? 0
        return Double(last) / seconds
    }

    /// `count` rules spread over the event types; the lowest-priority rule of each type is
    /// the one that issues (for about one event in 90, once per user per 30 days).
    static func ruleFile(count: Int) -> String {
        var text = "time_zone: Europe/Moscow\noffers:\n"
        for k in 0..<count {
            let type = types[k % types.count]
            let issuing = k < types.count
            let field = type == "workout" ? "event.distance_m" : "event.minutes"
            let condition: String
            switch k % 5 {
            case _ where issuing: condition = type == "workout" ? "\(field) >= 11900" : "\(field) >= 89"
            case 0: condition = "\(field) >= \(100_000 + k)"
            case 1: condition = "user.region in ['RU-X\(k)', 'RU-Y\(k)'] and \(field) > 10"
            case 2: condition = "\(field) * 2 + \(k) > 1000000 or event.user == 'nobody-\(k)'"
            case 3: condition = "user.workouts_month >= \(500 + k) and user.region == 'RU-MOW'"
            default: condition = "not (\(field) < 1000000) and hour(event.ts) == \(k % 24)"
            }
            text += """
                  - id: r\(k)
                    title: Rule \(k)
                    on: \(type)
                    when: "\(condition)"
                    offer: {text: "offer \(k)", discount_percent: \(1 + k % 50), valid_for: 7d}
                    audience: user
                    caps: {once_per: 30d}
                    priority: \(issuing ? -1 : k % 100)

                """
        }
        return text
    }
}
