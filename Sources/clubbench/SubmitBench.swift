import ArgumentParser
import ClubClient
import ClubTestKit
import Foundation
import GRDB
import JSON
import Storage
import Synchronization
import ZMQ

/// Acknowledged `submit` throughput (batches of 100 and of 1) and bonus processing
/// throughput, beside a bare SQLite insert loop with the same durability (WAL,
/// synchronous = FULL, one transaction per batch) measured in the same run.
struct SubmitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit", abstract: "Acknowledged submit and bonus throughput, beside bare SQLite inserts.")

    @Option(help: "Events submitted in batches of 100.") var events = 100_000
    @Option(help: "Events submitted one per request.") var singles = 5_000
    @Option(help: "Users the events belong to.") var users = 1_000

    @Option(help: "Concurrent clients for the second round of each batch size.") var clients = 4
    @Flag(help: "Compare security.mode curve with open (batches of 100, 1 and --clients clients), alternated; report the ratio.")
    var curve = false
    @Option(help: "Runs of each mode with --curve.") var rounds = 3

    static let bonusRules = """
        caps: {daily: 500}
        rules:
          - {id: class, on: class.attended, points: 15}
          - {id: class-minutes, on: class.attended, points: 1, per: {field: minutes, unit: 10}}
          - {id: streak-3, on: class.attended, streak_days: 3, points: 30}
        """

    func run() throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        func events(_ prefix: String, _ count: Int) -> [[UInt8]] {
            (0..<count).map { n in
                Array(
                    #"{"type":"class.attended","id":"\#(prefix)-\#(n)","user":"u-\#(n % users)","ts":\#(now - 86_400_000 + Int64(n % 80_000_000)),"minutes":\#(n % 90)}"#
                        .utf8)
            }
        }
        if curve { return try compareSecurity(events) }
        let bare100 = try bareSQLite(events("bare", self.events), batch: 100)
        let bare1 = try bareSQLite(events("bare", singles), batch: 1)
        print(String(format: "baseline  bare SQLite inserts, transactions of 100: %9.0f events/s", bare100))
        print(String(format: "baseline  bare SQLite inserts, transactions of 1:   %9.0f events/s", bare1))

        let daemon = try DaemonProcess()
        // Client events that earn points as attended sessions did before the daemon raised those
        // itself: three rules per event, a daily cap the load passes.
        let rules = try daemon.writeBonusRules(Self.bonusRules)
        try daemon.start(extraArguments: ["--log-level", "warning"] + rules)
        defer { daemon.terminate() }
        let roundTrips = try healthRoundTrips(daemon, count: singles)
        print(String(format: "baseline  clubd health round trips (no storage):   %9.0f requests/s", roundTrips))
        var logged = 0
        for (batch, count, bare) in [(100, self.events, bare100), (1, singles, bare1)] {
            for clientCount in [1, clients] {
                let (rate, bonus) = try submitted(
                    events("b\(batch)c\(clientCount)", count), batch: batch, clients: clientCount, daemon: daemon)
                logged += count
                print(
                    String(
                        format: "clubd     acknowledged submit, batches of %3d, %d client(s): %9.0f events/s  (ratio %.3f)", batch,
                        clientCount, rate, rate / bare))
                if batch == 100 {
                    print(String(format: "clubd     bonus stage keeping up with that load:    %9.0f events/s", bonus))
                }
            }
        }

        daemon.terminate()
        let catchUp = try bonusCatchUp(daemon, events: logged)
        print(String(format: "clubd     bonus stage catching up on the whole log: %9.0f events/s", catchUp))
    }

    /// Events per second acknowledged to `clients` concurrent clients, each waiting for every
    /// reply, and the rate at which the bonus stage had applied them all.
    func submitted(_ events: [[UInt8]], batch: Int, clients: Int, daemon: DaemonProcess) throws -> (Double, Double) {
        let before = try daemon.request(["op": "health"])["bonus_offset"]?.int64Value ?? 0
        let requests = Self.requests(events, batch: batch)
        let latencies = Mutex<[Double]>([])
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let start = DispatchTime.now()
        for k in 0..<clients {
            group.enter()
            Thread {
                defer { group.leave() }
                let client = CommandClient(context: ZMQContext(), endpoint: daemon.command, timeout: 30_000, retries: 1, curve: daemon.curve)
                var mine: [Double] = []
                for index in stride(from: k, to: requests.count, by: clients) {
                    let sent = DispatchTime.now()
                    guard let reply = try? client.request(requests[index]), reply["ok"] == .bool(true) else {
                        failures.withLock { $0.append("request \(index) failed") }
                        return
                    }
                    mine.append(sent.elapsedSeconds * 1000)
                }
                latencies.withLock { $0 += mine }
            }.start()
        }
        group.wait()
        let seconds = start.elapsedSeconds
        if let failure = failures.withLock({ $0.first }) { throw ValidationError(failure) }
        let rtts = latencies.withLock { $0.sorted() }
        print(
            String(
                format: "          round trip, batches of %d, %d client(s): p50 %.2f ms, p99 %.2f ms, max %.2f ms", batch, clients,
                rtts[rtts.count / 2], rtts[rtts.count * 99 / 100], rtts.last!))
        try daemon.waitForBonus(offset: before + Int64(events.count), timeout: 600)
        return (Double(events.count) / seconds, Double(events.count) / start.elapsedSeconds)
    }

    /// `submit` requests of `batch` events each.
    static func requests(_ events: [[UInt8]], batch: Int) -> [[UInt8]] {
        stride(from: 0, to: events.count, by: batch).map { first in
            var request = Array(#"{"op":"submit","events":["#.utf8)
            for (i, event) in events[first..<min(first + batch, events.count)].enumerated() {
                if i > 0 { request.append(UInt8(ascii: ",")) }
                request += event
            }
            return request + Array("]}".utf8)
        }
    }

    /// Acknowledged submits in `open` and in `curve` mode (a service allowed `class.*` submits),
    /// each round on a fresh daemon, alternated `rounds` times in this run.
    func compareSecurity(_ events: (String, Int) -> [[UInt8]]) throws {
        let cases = [(100, 1), (100, clients), (1, 1)]
        func key(_ batch: Int, _ clientCount: Int) -> String { "batches of \(batch), \(clientCount) client(s)" }
        let rates = try alternate(["open", "curve"], rounds: rounds) { round, mode -> [String: Double] in
            let daemon = try DaemonProcess()
            var flags = try daemon.writeBonusRules(Self.bonusRules)
            if mode == "curve" {
                let setup = try daemon.enableCurve(services: [(name: "app", events: ["class.*"], ops: [])])
                flags += setup.flags
                try daemon.start(extraArguments: ["--log-level", "warning"] + flags)
                daemon.curve = setup.services["app"]  // the submits come from the service
            } else {
                try daemon.start(extraArguments: ["--log-level", "warning"] + flags)
            }
            defer { daemon.terminate() }
            var rates: [String: Double] = [:]
            for (batch, clientCount) in cases {
                let count = batch == 1 ? singles : self.events
                let (rate, _) = try submitted(events("r\(round)b\(batch)c\(clientCount)", count), batch: batch, clients: clientCount, daemon: daemon)
                rates[key(batch, clientCount)] = rate
                print(String(format: "round %d   %-5@ acknowledged submit, %@: %9.0f events/s", round, mode, key(batch, clientCount), rate))
            }
            return rates
        }
        for (batch, clientCount) in cases {
            let k = key(batch, clientCount)
            let open = rates["open"]!.map { $0[k]! }.median, secured = rates["curve"]!.map { $0[k]! }.median
            print(String(format: "median    %@: open %.0f, curve %.0f events/s: ratio curve / open = %.3f", k, open, secured, secured / open))
        }
    }

    /// Requests per second of the cheapest operation, one client waiting for each reply.
    func healthRoundTrips(_ daemon: DaemonProcess, count: Int) throws -> Double {
        let client = CommandClient(context: ZMQContext(), endpoint: daemon.command, timeout: 10_000, retries: 1)
        let start = DispatchTime.now()
        for _ in 0..<count { _ = try client.request(["op": "health"]) }
        return Double(count) / start.elapsedSeconds
    }

    /// Replays the whole log through the bonus stage: the ledger and offsets are reset in
    /// the stopped daemon's database, and the restarted daemon is timed until it caught up.
    func bonusCatchUp(_ daemon: DaemonProcess, events: Int) throws -> Double {
        let queue = try DatabaseQueue(path: ClubStore.ledgerPath(besides: daemon.databasePath))
        try queue.write { db in
            try db.execute(sql: "DELETE FROM ledger; DELETE FROM bonus_account; DELETE FROM bonus_lot; DELETE FROM ledger_position")
        }
        try queue.close()
        let start = DispatchTime.now()
        try daemon.start(extraArguments: ["--log-level", "warning"])
        try daemon.waitForBonus(offset: Int64(events), timeout: 600)
        return Double(events) / start.elapsedSeconds
    }

    /// Inserts the same rows into a fresh WAL database with synchronous = FULL, one
    /// transaction per `batch`, as fast as one thread can.
    func bareSQLite(_ events: [[UInt8]], batch: Int) throws -> Double {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("clubbench-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: "CREATE TABLE activity (id TEXT PRIMARY KEY, user TEXT, at INTEGER, body BLOB)")
        }
        let start = DispatchTime.now()
        for first in stride(from: 0, to: events.count, by: batch) {
            try pool.write { db in
                let statement = try db.cachedStatement(sql: "INSERT INTO activity (id, user, at, body) VALUES (?, ?, ?, ?)")
                for (i, event) in events[first..<min(first + batch, events.count)].enumerated() {
                    try statement.execute(arguments: ["\(first + i)", "u", first + i, Data(event)])
                }
            }
        }
        return Double(events.count) / start.elapsedSeconds
    }
}
