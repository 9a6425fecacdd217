import Bonus
import ClubClient
import ClubTestKit
import Foundation
import JSON
import Simulation
import Storage
import Synchronization
import Testing
import ZMQ

/// Acknowledged events survive `kill -9`, and a restart never applies one twice.
///
/// CI runs 20,000 events and 6 kills; `scripts/soak` runs it longer through the environment
/// variables CLUBD_SOAK_EVENTS and CLUBD_SOAK_KILLS.
@Suite(.serialized) struct CrashTests {
    static let environment = ProcessInfo.processInfo.environment
    static let eventCount = Int(environment["CLUBD_SOAK_EVENTS"] ?? "") ?? 20_000
    static let killCount = Int(environment["CLUBD_SOAK_KILLS"] ?? "") ?? 6
    static let batchSize = 100
    static let users = 200
    static let rules = """
        caps: {daily: 60}
        rules:
          - {id: session, on: challenge.completed, points: 3}
          - {id: minutes, on: challenge.completed, points: 1, per: {field: minutes, unit: 10}}
        """

    struct Event {
        let id: String
        let user: String
        let ts: Int64
        let minutes: Int
        var json: JSONValue {
            try! JSONValue.parse(
                #"{"type":"challenge.completed","id":"\#(id)","user":"\#(user)","ts":\#(ts),"minutes":\#(minutes)}"#)
        }
    }

    /// Deterministic events over the last four days.
    static let events: [Event] = {
        var rng = SplitMix(seed: 42)
        let start = Int64(Date().timeIntervalSince1970 * 1000) - 4 * 86_400_000
        return (0..<eventCount).map { n in
            Event(
                id: "ev-\(n)", user: "u-\(rng.next() % UInt64(users))", ts: start + Int64(n) * (4 * 86_400_000 / Int64(eventCount)),
                minutes: Int(rng.next() % 95))
        }
    }()

    /// The points the rules give, computed without the daemon: per user, per UTC day, each
    /// rule's award clipped to what the daily cap leaves.
    static func expectedBalances(of events: [Event]) -> [String: Int] {
        var balances: [String: Int] = [:]
        var dayPoints: [String: Int] = [:]
        for e in events {
            let key = "\(e.user)/\(e.ts / 86_400_000)"
            for award in [3, e.minutes / 10] where award > 0 {
                let granted = min(award, 60 - dayPoints[key, default: 0])
                guard granted > 0 else { continue }
                dayPoints[key, default: 0] += granted
                balances[e.user, default: 0] += granted
            }
        }
        return balances
    }

    @Test func acknowledgedEventsSurviveRepeatedKill9ExactlyOnce() async throws {
        let crashed = try DaemonProcess()
        let flags = try crashed.writeBonusRules(Self.rules)
        try crashed.start(extraArguments: flags)
        let client = ReliableSubmitter(endpoint: crashed.command, batches: Self.batches)
        let clientThread = Thread { client.run() }
        clientThread.start()

        // Kill at random points of the client's progress, a few milliseconds after a batch.
        var rng = SplitMix(seed: UInt64(Date().timeIntervalSince1970))
        let thresholds = (0..<Self.killCount).map { _ in Int(rng.next() % UInt64(Self.batches.count - 1)) }.sorted()
        var kills = 0
        for threshold in thresholds {
            while client.acknowledgedBatches < threshold { try await Task.sleep(for: .milliseconds(1)) }
            try await Task.sleep(for: .microseconds(Int(rng.next() % 4000)))
            crashed.kill()
            kills += 1
            try crashed.start(extraArguments: flags)
        }
        while !client.isFinished { try await Task.sleep(for: .milliseconds(5)) }
        print("crash test: kills \(kills), resends \(client.resends)")
        #expect(kills >= 5)
        // Whether a kill interrupts a request in flight (and the client resends it) or falls
        // between two requests is up to timing; both must leave the ledger exact.

        try crashed.waitForBonus(offset: Int64(Self.eventCount))
        let balances = try Self.balances(crashed)
        #expect(crashed.terminate() == 0)
        let crashedState = try await Self.state(of: crashed)

        #expect(crashedState.activityIDs.count == Self.eventCount)
        #expect(Set(crashedState.activityIDs) == Set(Self.events.map(\.id)), "an acknowledged event is missing or foreign")
        let perRule = Dictionary(grouping: crashedState.ledger, by: { "\($0.event)/\($0.rule)" })
        let twice = perRule.filter { $0.value.count > 1 }.keys.sorted()
        #expect(twice.isEmpty, "applied more than once: \(twice.prefix(5)) and \(max(0, twice.count - 5)) more")
        let known = Set(crashedState.activityIDs)
        #expect(crashedState.ledger.allSatisfy { known.contains($0.event) }, "a ledger entry without its event")
        let expected = Self.expectedBalances(of: Self.events).filter { $0.value > 0 }
        let wrong = Set(expected.keys).union(balances.keys).filter { expected[$0] != balances[$0] }.sorted()
        #expect(wrong.isEmpty, "balances differ from the independent computation for \(wrong.count) users, e.g. \(wrong.prefix(3).map { "\($0): \(balances[$0] ?? 0) vs \(expected[$0] ?? 0)" })")

        // The same events without crashes give the same ledger, entry for entry.
        let clean = try DaemonProcess()
        try clean.start(extraArguments: try clean.writeBonusRules(Self.rules))
        let cleanClient = ReliableSubmitter(endpoint: clean.command, batches: Self.batches)
        cleanClient.run()
        try clean.waitForBonus(offset: Int64(Self.eventCount))
        #expect(clean.terminate() == 0)
        let cleanState = try await Self.state(of: clean)
        #expect(cleanState.ledger.count == crashedState.ledger.count)
        let difference = zip(cleanState.ledger, crashedState.ledger).first { $0 != $1 }
        #expect(difference == nil, "first difference from the run without crashes: \(String(describing: difference))")
        print("crash test: ledger entries \(crashedState.ledger.count), points \(balances.values.reduce(0, +))")
    }

    static let batches: [[UInt8]] = stride(from: 0, to: events.count, by: batchSize).map { start in
        let slice = events[start..<min(start + batchSize, events.count)]
        return JSONValue.object(JSONObject([("op", "submit"), ("events", .array(slice.map(\.json)))])).serialized()
    }

    static func balances(_ daemon: DaemonProcess) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for u in 0..<users {
            let points = try daemon.request(["op": "balance", "user": .string("u-\(u)")])["points"]?.int64Value ?? -1
            if points != 0 { result["u-\(u)"] = Int(points) }
        }
        return result
    }

    static func state(of daemon: DaemonProcess) async throws -> (activityIDs: [String], ledger: [LedgerEntry]) {
        let store = try await daemon.openStore()
        let ids = try await store.activity(after: 0, limit: Int.max).map(\.id)
        var ledger: [LedgerEntry] = []
        for u in 0..<users { ledger += try await store.ledger(user: "u-\(u)", limit: Int.max) }
        return (ids, ledger)
    }
}

/// Submits batches in order on a thread of its own, through the Lazy Pirate client, never
/// giving up, and reports its progress.
final class ReliableSubmitter: Sendable {
    private let endpoint: String
    private let batches: [[UInt8]]
    private let progress = Mutex((acknowledged: 0, resends: 0, finished: false))

    init(endpoint: String, batches: [[UInt8]]) {
        self.endpoint = endpoint
        self.batches = batches
    }

    var acknowledgedBatches: Int { progress.withLock { $0.acknowledged } }
    var resends: Int { progress.withLock { $0.resends } }
    var isFinished: Bool { progress.withLock { $0.finished } }

    func run() {
        let client = CommandClient(context: ZMQContext(), endpoint: endpoint, timeout: 1500, retries: .max)
        for batch in batches {
            // A refusal while the daemon starts or stops is retried like a timeout.
            while (try? client.request(batch))?["ok"] != .bool(true) {}
            progress.withLock {
                $0.acknowledged += 1
                $0.resends = client.resends
            }
        }
        progress.withLock { $0.finished = true }
    }
}
