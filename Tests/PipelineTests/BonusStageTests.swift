import Bonus
import ClubKernel
import ClubRuntime
import Foundation
import Logging
import Storage
import Synchronization
import Testing
import ZMQ

@testable import Pipeline

/// The bonus stage and its runner against an in-memory store: a stage is testable without
/// SQLite because it declares the store it needs (``BonusStore``). Commits can be made to
/// fail, as a full disk does.
final class MemoryBonusStore: BonusStore {
    struct State {
        var log: [ActivityEvent] = []
        var position: Int64 = 0
        var ledger: [LedgerEntry] = []
        var accounts: [String: [UInt8]] = [:]
        /// Lots in award order, as SQLite keeps them by row id.
        var lots: [(user: String, lot: BonusAccount.Lot)] = []
        var failing = false
        var failedCommits = 0
        /// Commits wait while set, as they do for a server that went away.
        var hanging = false
    }

    let state = Mutex(State())

    struct DiskFull: Error, CustomStringConvertible {
        var description: String { "disk full (injected)" }
    }

    func append(_ records: [ActivityEvent]) {
        state.withLock { s in
            for r in records {
                let offset = Int64(s.log.count + 1)
                s.log.append(ActivityEvent(offset: offset, id: r.id, type: r.type, user: r.user, at: r.at, json: r.json))
            }
        }
    }

    func activity(after offset: Int64, limit: Int) async throws -> [ActivityEvent] {
        state.withLock { s in Array(s.log.dropFirst(Int(offset)).prefix(limit)) }
    }

    var newestActivityOffset: Int64 { state.withLock { Int64($0.log.count) } }

    func ledgerPosition() async throws -> Int64 { state.withLock { $0.position } }

    func bonusAccounts() async throws -> [String: (state: [UInt8], lots: [BonusAccount.Lot])] {
        state.withLock { s in
            var result: [String: (state: [UInt8], lots: [BonusAccount.Lot])] = [:]
            for (user, bytes) in s.accounts { result[user] = (bytes, s.lots.filter { $0.user == user }.map(\.lot)) }
            return result
        }
    }

    func commitBonus(
        position: Int64, entries: [LedgerEntry], accounts: [String: [UInt8]],
        lotChanges: [(user: String, change: BonusAccount.LotChange)]
    ) async throws {
        while state.withLock({ $0.hanging }) { try await Task.sleep(for: .milliseconds(5)) }
        try state.withLock { s in
            guard !s.failing else {
                s.failedCommits += 1
                throw DiskFull()
            }
            s.ledger += entries
            for (user, bytes) in accounts { s.accounts[user] = bytes }
            for (user, change) in lotChanges {
                switch change {
                case .write(let lot):
                    if let i = s.lots.firstIndex(where: { $0.user == user && $0.lot.event == lot.event && $0.lot.rule == lot.rule }) {
                        s.lots[i].lot = lot
                    } else {
                        s.lots.append((user, lot))
                    }
                case .delete(let event, let rule):
                    s.lots.removeAll { $0.user == user && $0.lot.event == event && $0.lot.rule == rule }
                }
            }
            s.position = position
        }
    }
}

@Suite struct BonusStageTests {
    /// The tests' tasks run here, not on the cooperative pool: the end-to-end suites beside
    /// them block its threads (two on this machine) while they wait for daemons.
    static let executor = DispatchTaskExecutor(label: "bonus-stage-tests")

    static let rules = try! BonusRules.parse(
        """
        rules:
          - {id: visit, on: club.visited, points: 2}
        """, file: "<test>")

    static func visits(_ range: Range<Int>, users: Int = 7) -> [ActivityEvent] {
        range.map { n in
            let body = #"{"type":"club.visited","id":"v-\#(n)","user":"u-\#(n % users)","ts":1764000000000}"#
            return ActivityEvent(id: "v-\(n)", type: "club.visited", user: "u-\(n % users)", at: 1_764_000_000_000, json: Array(body.utf8))
        }
    }

    /// A publisher on an inproc endpoint of its own, for stages that publish.
    static func publisher() throws -> Publisher {
        try Publisher(context: ZMQContext(), endpoint: "inproc://bonus-stage-test-\(UUID().uuidString)", sendHighWaterMark: 0)
    }

    static func waitUntil(_ timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func everyEventIsBookedOnceAcrossFailedCommitsAndTheStageResumesByItself() async throws {
        try await withTaskExecutorPreference(Self.executor) { try await bookingAcrossFailedCommits() }
    }

    private func bookingAcrossFailedCommits() async throws {
        let store = MemoryBonusStore()
        let stage = try await BonusStage(store: store, rules: Self.rules, publisher: try Self.publisher(), logger: Logger(label: "test"))
        let signal = LogSignal()
        let policy = StageRunner.Policy(initialBackoff: .milliseconds(5), maximumBackoff: .milliseconds(40), coalescing: .zero)
        let runner = await StageRunner(consumer: stage, log: store, signal: signal, policy: policy, logger: Logger(label: "test"))
        let running = Task(executorPreference: Self.executor) { await runner.run() }

        store.append(Self.visits(0..<300))
        signal.notify()
        #expect(await Self.waitUntil { runner.status.offset == 300 && runner.status.state == .running })
        #expect(runner.status.lag == 0)

        // The disk fills: commits fail, the stage retries with back-off and reports it.
        store.state.withLock { $0.failing = true }
        store.append(Self.visits(300..<1000))
        signal.notify()
        #expect(await Self.waitUntil { runner.status.state == .retrying })
        // It keeps trying, with back-off (5 ms doubling to 40 ms): a few attempts in the time a
        // spinning stage would make thousands. (Timed by the clock, not a fixed sleep: on a
        // loaded machine the stage's thread may get the core late.)
        let started = ContinuousClock.now
        let before = store.state.withLock { $0.failedCommits }
        #expect(await Self.waitUntil { store.state.withLock { $0.failedCommits } >= before + 4 })
        let elapsed = ContinuousClock.now - started
        let failed = store.state.withLock { $0.failedCommits }
        let bound = Int(elapsed / .milliseconds(5)) + 2
        #expect(failed - before <= bound, "\(failed - before) commits tried in \(elapsed)")
        #expect(runner.status.offset == 300 && runner.status.lag == 700)
        #expect(runner.status.lastError == "disk full (injected)")

        // The disk is freed: caught up, with nothing booked twice and nothing skipped.
        store.state.withLock { $0.failing = false }
        #expect(await Self.waitUntil { runner.status.offset == 1000 && runner.status.state == .running })
        #expect(runner.status.failures >= failed)
        let ledger = store.state.withLock { $0.ledger }
        #expect(ledger.count == 1000)
        #expect(Set(ledger.map(\.event)).count == 1000)
        for user in 0..<7 {
            let expected = (0..<1000).filter { $0 % 7 == user }.count * 2
            #expect(await stage.balance(of: "u-\(user)") == expected)
        }

        signal.finish()
        await running.value
        #expect(runner.status.state == .stopped)
    }

    @Test func aStepThatHangsOnItsStoreIsReportedStalledAndGoesOnByItself() async throws {
        try await withTaskExecutorPreference(Self.executor) { try await stallingOnTheStore() }
    }

    private func stallingOnTheStore() async throws {
        let store = MemoryBonusStore()
        let stage = try await BonusStage(store: store, rules: Self.rules, publisher: try Self.publisher(), logger: Logger(label: "test"))
        let signal = LogSignal()
        let policy = StageRunner.Policy(coalescing: .zero, stallAfter: .milliseconds(200))
        let runner = await StageRunner(consumer: stage, log: store, signal: signal, policy: policy, logger: Logger(label: "test"))
        let running = Task(executorPreference: Self.executor) { await runner.run() }
        store.state.withLock { $0.hanging = true }
        store.append(Self.visits(0..<10))
        signal.notify()
        #expect(await Self.waitUntil { runner.status.state == .stalled })
        #expect(runner.status.lastError?.contains("storage not answering") == true)
        #expect(runner.status.offset == 0 && runner.status.lag == 10 && runner.status.failures == 0)
        store.state.withLock { $0.hanging = false }
        #expect(await Self.waitUntil { runner.status.offset == 10 && runner.status.state == .running })
        #expect(store.state.withLock { $0.ledger.count } == 10)
        signal.finish()
        await running.value
    }

    @Test func aStageWaitingToRetryStopsAtOnceWhenTheDaemonStops() async throws {
        try await withTaskExecutorPreference(Self.executor) { try await stoppingWhileWaitingToRetry() }
    }

    private func stoppingWhileWaitingToRetry() async throws {
        let store = MemoryBonusStore()
        store.state.withLock { $0.failing = true }
        store.append(Self.visits(0..<10))
        let stage = try await BonusStage(store: store, rules: Self.rules, publisher: try Self.publisher(), logger: Logger(label: "test"))
        let signal = LogSignal()
        // A long back-off: stopping must not wait for it.
        let policy = StageRunner.Policy(initialBackoff: .seconds(30), maximumBackoff: .seconds(30), coalescing: .zero)
        let runner = await StageRunner(consumer: stage, log: store, signal: signal, policy: policy, logger: Logger(label: "test"))
        let running = Task(executorPreference: Self.executor) { await runner.run() }
        #expect(await Self.waitUntil { runner.status.state == .retrying })
        let started = ContinuousClock.now
        signal.finish()
        await running.value
        #expect(ContinuousClock.now - started < .seconds(3))  // not the 30 s back-off
        #expect(runner.status.state == .stopped && runner.status.offset == 0)
        #expect(store.state.withLock { $0.ledger.isEmpty })
    }
}
