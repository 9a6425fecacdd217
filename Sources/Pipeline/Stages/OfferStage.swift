import Bonus
import ClubKernel
import ClubRuntime
import Foundation
import JSON
import Logging
import Metrics
import Offers

/// The offer actor: applies the marketers' rules to the activity log in order and issues
/// offers, published on `offer.user.<user>`, `offer.region.<region>` and `offer.all`. The
/// offers an event issued, the facts it taught and the log position commit in one
/// transaction, so after a crash each event has its effect once and caps and budgets hold.
/// Scheduled campaigns are issued when their time comes, each occurrence once.
actor OfferStage: LogConsumer {
    nonisolated let name = "offers"
    private let executor = DispatchQueueExecutor(label: "clubd-offers")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    nonisolated let batchLimit = 500
    private let store: any OfferStore
    private let publisher: Publisher
    private let logger: Logger
    private let balance: @Sendable (String) async -> Int
    /// How copies of workouts from several sources count, for the users' facts.
    nonisolated let sourcePriority: [String]
    private var engine: OfferEngine
    /// Every event up to here has had its effects committed.
    private(set) var offset: Int64 = 0
    /// The position stored; events between it and `offset` had no effect (see ``apply``).
    private var storedOffset: Int64 = 0
    private var storedAt = Clock.nowMillis()
    private let issuedCounter = Counter(label: "clubd_offers_issued_total")

    /// - Parameter balance: a user's bonus balance, for rules that read it.
    init(
        store: any OfferStore, rules: OfferRules, sourcePriority: [String], publisher: Publisher, logger: Logger,
        balance: @escaping @Sendable (String) async -> Int
    ) async throws {
        self.store = store
        self.publisher = publisher
        self.logger = logger
        self.balance = balance
        self.sourcePriority = sourcePriority
        engine = OfferEngine(rules: rules, sourcePriority: sourcePriority)
        types = engine.types
        try await restore()
    }

    private func restore() async throws {
        let state = try await store.offersState()
        var engine = OfferEngine(rules: engine.rules, sourcePriority: sourcePriority)
        let decoder = JSONDecoder()
        for (user, facts) in state.facts { engine.facts[user] = try decoder.decode(UserFacts.self, from: Data(facts)) }
        engine.restore(try await store.offerCounters())
        for (rule, time) in state.occurrences { engine.restoreOccurrence(rule: rule, at: time) }
        self.engine = engine
        offset = state.position
        storedOffset = offset
    }

    /// Replaces the rules; events from the current offset on are judged by them.
    func reload(_ rules: OfferRules) {
        engine.reload(rules)
        types = engine.types
    }

    /// What the rules fire on and the facts learn from; the rest of the log passes by unread.
    private(set) var types: Set<String>?

    /// The region the stage knows for `user`.
    func region(of user: String) -> String? { engine.facts[user]?.region }


    func close() async throws {
        guard storedOffset != offset else { return }
        try await store.commitOffers(position: offset, offers: [], facts: [:], occurrences: [:])
    }

    /// Drops what was applied but not committed: facts, counters and position as stored.
    func recover() async throws { try await restore() }

    func due() async throws { try await issueDueCampaigns() }

    func apply(_ records: [ActivityEvent], upTo newOffset: Int64) async throws {
        var offers: [IssuedOffer] = []
        var learned: Set<String> = []
        for record in records {
            guard let event = Self.event(record, for: engine) else { continue }
            offers += engine.apply(event, balance: engine.readsBalance(event.type) ? await balance(event.user) : nil)
            if UserFacts.learns(from: record.type) { learned.insert(record.user) }
        }
        // Events without effect need no transaction of their own: their position is stored
        // with the next effect, or within a second. Replayed after a crash, they have no
        // effect again.
        let now = Clock.nowMillis()
        guard !offers.isEmpty || !learned.isEmpty || now - storedAt >= 1000 else {
            offset = newOffset
            return
        }
        let encoder = JSONEncoder()
        var facts: [String: [UInt8]] = [:]
        for user in learned { facts[user] = [UInt8](try encoder.encode(engine.facts[user])) }
        try await store.commitOffers(position: newOffset, offers: offers, facts: facts, occurrences: [:])
        offset = newOffset
        storedOffset = newOffset
        storedAt = now
        await publish(offers)
    }

    /// A log entry as `engine` takes it; nil when neither the rules nor the users' facts have
    /// a use for its type (it is then not even parsed). Synchronous: the stage's loop must not
    /// leave its thread per entry.
    private static func event(_ record: ActivityEvent, for engine: OfferEngine) -> ActivityEvent? {
        guard UserFacts.learns(from: record.type) || engine.fires(on: record.type) else { return nil }
        return record
    }

    /// Replays the activity log through `rules` in a private engine, issuing nothing: facts
    /// are learned from every event the log still holds, rules are evaluated on events from
    /// `since` on, and campaigns on their occurrences between `since` and `now`.
    nonisolated func preview(_ rules: OfferRules, since: Int64, now: Int64) async throws -> OfferPreview {
        var engine = OfferEngine(rules: rules, sourcePriority: sourcePriority)
        var preview = OfferPreview(rules: rules)
        var offset: Int64 = 0
        while case let records = try await store.activity(after: offset, limit: 1000), let last = records.last {
            offset = last.offset
            for record in records {
                guard record.at >= since, record.at <= now else {
                    if UserFacts.learns(from: record.type) { engine.learn(record) }
                    continue
                }
                if let event = Self.event(record, for: engine) {
                    preview.record(engine.apply(event, balance: engine.readsBalance(event.type) ? await balance(event.user) : nil))
                }
            }
        }
        for time in rules.occurrences(from: since, to: now) { preview.record(engine.due(now: time).offers, events: 0) }
        return preview
    }

    private func issueDueCampaigns() async throws {
        let (offers, occurrences) = engine.due(now: Clock.nowMillis())
        guard !occurrences.isEmpty else { return }
        try await store.commitOffers(position: nil, offers: offers, facts: [:], occurrences: occurrences)
        await publish(offers)
    }

    private func publish(_ offers: [IssuedOffer]) async {
        guard !offers.isEmpty else { return }
        issuedCounter.increment(by: Int64(offers.count))
        await publisher.publish(offers.map { Publisher.Message(topic: $0.audience.topic, members: $0.members) })
    }
}
