import ClubTestKit
import Foundation
import GRDB
import JSON
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `club-shop-adapter` as a real process between a real clubd and a real HTTP shop on loopback
/// (`club-shop-simulator`, a FlyingFox server, in a process of its own so that no test of this
/// process can starve it):
/// members with names, e-mails, phones and addresses in — only ids, regions, interests and consent
/// reach the club —; the club's ledger entries and offers out to the shop, each exactly once by
/// its idempotency key, across a `kill -9` of the adapter during a shop outage; then every table
/// of every database file is searched for the personal data, and none is found.
@Suite(.serialized) struct ShopAdapterEndToEndTests {
    static let now = Int64(Date().timeIntervalSince1970 * 1000)

    /// The simulated shop's process and its control endpoints.
    final class ShopProcess {
        let process = Process()
        let url: String

        init() throws {
            process.executableURL = DaemonProcess.productsDirectory.appendingPathComponent("club-shop-simulator")
            process.arguments = ["--port", "0", "--members", "12"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            var line: [UInt8] = []
            while let byte = try pipe.fileHandleForReading.read(upToCount: 1)?.first, byte != 10 { line.append(byte) }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("listening ") else {
                process.terminate()
                throw TestKitError("the shop simulator said '\(text)' instead of where it listens")
            }
            url = String(text.dropFirst("listening ".count))
        }

        func get(_ path: String) async throws -> JSONValue {
            let (data, _) = try await URLSession.shared.data(from: URL(string: url + path)!)
            return try JSONValue.parse(Array(data))
        }

        func post(_ path: String) async throws {
            var request = URLRequest(url: URL(string: url + path)!)
            request.httpMethod = "POST"
            _ = try await URLSession.shared.data(for: request)
        }

        /// Deliveries by idempotency key: {"path", "body"}.
        func received() async throws -> [String: JSONValue] {
            guard let object = try await get("/test/state")["received"]?.objectValue else { return [:] }
            return Dictionary(uniqueKeysWithValues: object.keys.map { ($0, object[$0]!) })
        }
        func counter(_ name: String) async throws -> Int { Int(try await get("/test/state")[name]?.int64Value ?? -1) }

        deinit {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// The adapter's process, on a configuration in the daemon's scratch directory.
    static func adapter(directory: URL, shop: String, daemon: DaemonProcess) throws -> (process: ChildProcess, arguments: [String]) {
        let config = directory.appendingPathComponent("shop-adapter.yaml")
        try """
            shop: {url: "\(shop)", poll_interval: 300ms, delivery_interval: 200ms, retry_initial: 50ms, retry_max: 300ms, timeout: 2s}
            club: {command: "\(daemon.command)", publish: "\(daemon.publish)"}
            state: {path: "\(directory.appendingPathComponent("adapter/state.sqlite").path)"}
            """.write(to: config, atomically: true, encoding: .utf8)
        return (ChildProcess("club-shop-adapter", log: directory.appendingPathComponent("shop-adapter.log")), ["--config", config.path])
    }

    /// What the adapter logged, for a failure's message.
    nonisolated(unsafe) static var adapterLog: URL?

    static func waitUntil(_ what: String, timeout: Double = 30, _ done: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await done() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = adapterLog.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? ""
        Issue.record("timed out waiting for \(what); the adapter logged:\n\(log.suffix(3000))")
        throw CancellationError()
    }

    /// A 10.5 km run: three ledger entries of the embedded programme (workout 10, workout-km 10,
    /// long-run 25), and the gels offer of the rule below.
    static func run(_ id: String, _ user: String, daysAgo: Int64) -> JSONValue {
        try! JSONValue.parse(
            #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"device","sport":"run","start":\#(now - daysAgo * 86_400_000),"duration_s":3300,"distance_m":10500}"#)
    }

    static let offerRules = """
        offers:
          - id: gels-10k
            title: Fuel for long runs
            on: workout
            when: "event.sport == 'run' and event.distance_m >= 10000"
            offer: {text: "Long run done! 10% off energy gels.", discount_percent: 10, valid_for: 7d}
            audience: user
            caps: {once_per: 30d}
        """

    /// Every text and blob value of every table of a database file, with its table and column.
    static func texts(in file: String) throws -> [(place: String, text: String)] {
        let db = try DatabaseQueue(path: file)
        return try db.read { db in
            var texts: [(String, String)] = []
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"") {
                    for (column, value) in row {
                        switch value.storage {
                        case .string(let s): texts.append(("\(table).\(column)", s))
                        case .blob(let data): texts.append(("\(table).\(column)", String(decoding: data, as: UTF8.self)))
                        default: continue
                        }
                    }
                }
            }
            return texts
        }
    }

    @Test(.enabled(if: !DaemonProcess.testsPostgres, "reads the daemon's SQLite log with SQL"))
    func profilesInPointsAndOffersOutExactlyOnceAcrossAKillAndAnOutage() async throws {
        let shop = try ShopProcess()
        let url = shop.url
        // Every value of every member record the shop sends but the club must not keep.
        let records = try await shop.get("/club/members?limit=100")["members"]?.arrayValue ?? []
        var personal: [String] = []
        func strings(_ value: JSONValue) -> [String] {
            switch value {
            case .string(let s): [s]
            case .object(let o): o.keys.flatMap { strings(o[$0]!) }
            case .array(let a): a.flatMap(strings)
            default: []
            }
        }
        for case .object(let record) in records {
            for key in record.keys where !["id", "region", "interests", "consents", "updated_at"].contains(key) { personal += strings(record[key]!) }
        }
        // Short numbers (a zip code) would match inside any id or timestamp: search what identifies.
        personal = personal.filter { $0.count >= 6 && !$0.allSatisfy(\.isNumber) }
        #expect(records.count == 5 && personal.count >= 5 * 7, "\(personal)")  // a page: names, e-mail, phone, street, city, birthday
        let daemon = try DaemonProcess()
        try daemon.start(extraArguments: try daemon.writeOfferRules(["running.yaml": Self.offerRules]))
        let (adapter, arguments) = try Self.adapter(directory: daemon.directory, shop: url, daemon: daemon)
        Self.adapterLog = adapter.logFile
        try adapter.start(arguments)
        defer { adapter.kill() }
        let log = try DatabaseQueue(path: daemon.databasePath)
        func count(_ sql: String) throws -> Int { try log.read { try Int.fetchOne($0, sql: sql) ?? 0 } }

        // Profiles and consent in: 12 profiles, 24 connection events (garmin and strava each).
        try await Self.waitUntil("the members' profiles") { try count("SELECT COUNT(*) FROM activity WHERE type = 'profile'") == 12 }
        try await Self.waitUntil("the members' consent") { try count("SELECT COUNT(*) FROM activity WHERE type = 'connection'") == 24 }
        let active = try count("SELECT COUNT(*) FROM activity WHERE type = 'connection' AND json_extract(CAST(body AS TEXT), '$.state') = 'active'")
        #expect(active == 8)  // garmin for the 8 members whose number is not a multiple of 3
        func text(_ sql: String) throws -> String? { try log.read { try String.fetchOne($0, sql: sql) } }
        #expect(try text("SELECT json_extract(CAST(body AS TEXT), '$.region') FROM activity WHERE type = 'profile' AND user = 'm-4'") == "RU-MOW")

        // Points and offers out.
        let first = (1...6).map { Self.run("r\($0)", "m-\($0)", daysAgo: 1) }
        #expect(try daemon.request(["op": "submit", "events": .array(first)])["accepted"] == 6)
        func feeds() throws -> (ledger: [JSONValue], offers: [JSONValue]) {
            let ledger = try daemon.request(["op": "ledger.changes", "after": 0, "limit": 10000])["entries"]?.arrayValue ?? []
            let offers = try daemon.request(["op": "offers.changes", "after": 0, "limit": 10000])["offers"]?.arrayValue ?? []
            return (ledger, offers)
        }
        try await Self.waitUntil("the first points and offers in the feeds") {
            let f = try feeds()
            return f.ledger.count == 18 && f.offers.count == 6
        }
        try await Self.waitUntil("the first deliveries") { try await shop.received().count == 24 }

        // The shop goes down; more runs; the adapter is killed while it retries, and restarted.
        try await shop.post("/test/down")
        let second = (7...12).map { Self.run("r\($0)", "m-\($0)", daysAgo: 2) }
        #expect(try daemon.request(["op": "submit", "events": .array(second)])["accepted"] == 6)
        try await Self.waitUntil("the adapter retrying against the outage") { try await shop.counter("refused_while_down") >= 3 }
        adapter.kill()
        try adapter.start(arguments)
        try await Task.sleep(for: .milliseconds(500))
        try await shop.post("/test/up")

        let (ledger, offers) = try feeds()
        #expect(ledger.count == 36 && offers.count == 12)
        try await Self.waitUntil("every delivery after the outage") { try await shop.received().count == 48 }
        let received = try await shop.received()
        // Exactly the feeds' entries, each under its key, with its content.
        let ledgerKeys: [String] = ledger.map { "ledger-\($0["seq"]?.int64Value ?? -1)" }
        let offerKeys: [String] = offers.map { "offer-\($0["code"]?.stringValue ?? "?")" }
        #expect(Set(received.keys) == Set(ledgerKeys + offerKeys))
        for entry in ledger {
            let delivered = received["ledger-\(entry["seq"]!.int64Value!)"]
            #expect(delivered?["path"] == "/club/ledger" && delivered?["body"]?["points"] == entry["points"] && delivered?["body"]?["user"] == entry["user"])
        }
        #expect(received.values.filter { $0["path"] == "/club/offers" }.allSatisfy { $0["body"]?["rule"] == "gels-10k" })
        let points: [Int64] = received.values.compactMap { $0["body"]?["points"]?.int64Value }
        #expect(points.reduce(0, +) == 12 * 45)

        // A graceful restart sends nothing again: the positions are durable. The restarted adapter
        // is alive — one more run's three entries arrive — and they are all it sends.
        let acceptedBefore = try await shop.counter("accepted")
        #expect(acceptedBefore - received.count <= 2, "at most the delivery in flight at the kill repeats (the shop de-duplicates it)")
        #expect(adapter.terminate() == 0)
        try adapter.start(arguments)
        try await Task.sleep(for: .milliseconds(1000))
        #expect(try daemon.request(["op": "submit", "events": [Self.run("r13", "m-1", daysAgo: 3)]])["accepted"] == 1)  // no new offer: once per 30 days
        try await Self.waitUntil("the run after the restart") { try await shop.received().count == 51 }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await shop.counter("accepted") == acceptedBefore + 3)

        // No personal data anywhere: every table of every database file, every column as text.
        adapter.terminate()
        daemon.terminate()
        let files = FileManager.default.enumerator(atPath: daemon.directory.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".sqlite") }.map { daemon.directory.appendingPathComponent($0).path } ?? []
        #expect(files.count >= 4, "\(files)")  // clubd's log, ledger and offers files, and the adapter's state
        var searched = 0
        for file in files {
            let texts = try Self.texts(in: file)
            searched += texts.count
            for (place, text) in texts {
                for secret in personal where text.contains(secret) { Issue.record("\(secret) found in \(file) \(place)") }
            }
        }
        #expect(searched > 100)
    }
}
