import Bonus
import ClubKernel
import ClubProtocol
import ClubRuntime
import Foundation
import JSON
import Logging
import Metrics

/// The bonus actor: applies the bonus rules to the activity log in order and books the
/// results in the ledger. Ledger entries, changed accounts and its offset are committed in
/// one transaction, so after a crash every event takes effect exactly once.
///
/// It runs on its own thread: catching up on a long log is CPU work that must not hold
/// one of the cooperative pool's few threads while `submit` requests wait for them.
actor BonusStage: LogConsumer {
    nonisolated let name = "bonus"
    private let executor = DispatchQueueExecutor(label: "clubd-bonus")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Events per transaction: large enough to share an fsync among many, small enough that
    /// a `submit` never waits long for the writer.
    nonisolated let batchLimit = 250
    private let store: any BonusStore
    private let publisher: Publisher
    private let logger: Logger
    private var engine: BonusEngine
    private var accounts: [String: BonusAccount] = [:]
    private(set) var offset: Int64 = 0
    /// No account has points expiring before this time.
    private var nextSweep = Int64.min
    private let entriesCounter = Counter(label: "clubd_bonus_entries_total")
    private let refusalsCounter = Counter(label: "clubd_bonus_refusals_total")

    /// Events applied since start (of the types the rules read: others are passed unread).
    private(set) var processed = 0

    init(store: any BonusStore, rules: BonusRules, publisher: Publisher, logger: Logger) async throws {
        self.store = store
        self.publisher = publisher
        self.logger = logger
        engine = BonusEngine(rules: rules)
        try await restore()
    }

    /// Drops what was applied but not committed: the accounts and offset as the store has them.
    func recover() async throws { try await restore() }

    private func restore() async throws {
        offset = try await store.ledgerPosition()
        accounts = [:]
        nextSweep = .min
        for (user, stored) in try await store.bonusAccounts() {
            accounts[user] = try BonusAccount(serialized: stored.state, lots: stored.lots)
        }
    }

    /// Replaces the rules; events from the current offset on are judged by them.
    func reload(_ rules: BonusRules) { engine = BonusEngine(rules: rules) }

    /// Only what the rules can book is read.
    var types: Set<String>? { engine.types }

    /// A user's points now (0 for a user never seen).
    func balance(of user: String) -> Int { accounts[user]?.balance ?? 0 }


    /// Expiries due with no new event.
    func due() async throws { try await apply([], upTo: offset) }

    func apply(_ records: [ActivityEvent], upTo newOffset: Int64) async throws {
        let now = Clock.nowMillis()
        var entries: [LedgerEntry] = []
        var changed: Set<String> = []
        var messages: [Publisher.Message] = []
        for event in records.flatMap(BonusEngine.beneficiaries) {
            var account = accounts[event.user] ?? BonusAccount()
            let revision = account.revision
            let outcome = engine.apply(event, to: &account, now: now)
            entries += outcome.entries
            if account.revision != revision {
                accounts[event.user] = account
                changed.insert(event.user)
                nextSweep = min(nextSweep, account.nextExpiry ?? .max)
            }
            if let refusal = outcome.refusal {
                refusalsCounter.increment()
                messages += refusalMessages(refusal, event: event)
            }
        }
        if now >= nextSweep {
            nextSweep = .max
            for user in Array(accounts.keys) {
                let expired = engine.expire(&accounts[user]!, user: user, now: now)
                if !expired.isEmpty {
                    entries += expired
                    changed.insert(user)
                }
                nextSweep = min(nextSweep, accounts[user]!.nextExpiry ?? .max)
            }
        }
        guard !changed.isEmpty || newOffset != offset else { return }
        var states: [String: [UInt8]] = [:]
        var lotChanges: [(user: String, change: BonusAccount.LotChange)] = []
        for user in changed {
            states[user] = accounts[user]!.serialized()
            lotChanges += accounts[user]!.takeLotChanges().map { (user, $0) }
        }
        try await store.commitBonus(position: newOffset, entries: entries, accounts: states, lotChanges: lotChanges)
        offset = newOffset
        processed += records.count
        entriesCounter.increment(by: Int64(entries.count))
        await publisher.publish(entries.map(Self.message) + messages)
    }

    private static func message(_ e: LedgerEntry) -> Publisher.Message {
        let payload = BonusPayload(
            user: e.user, event: e.event, kind: .entry(rule: e.rule, kind: e.kind.rawValue, points: e.points, entryAt: Int(e.at)),
            balance: e.balance)
        return Publisher.Message(topic: "bonus.\(e.user)", members: payload.members)
    }

    private func refusalMessages(_ refusal: BonusEngine.Refusal, event: ActivityEvent) -> [Publisher.Message] {
        let bonus = BonusPayload(
            user: event.user, event: event.id, kind: .refused(code: refusal.code, message: refusal.message),
            balance: accounts[event.user]?.balance ?? 0)
        let rejected = RejectedPayload(code: refusal.code, message: refusal.message, source: "bonus", event: event.id)
        return [
            Publisher.Message(topic: "bonus.\(event.user)", members: bonus.members),
            Publisher.Message(topic: "rejected", members: rejected.members),
        ]
    }
}
