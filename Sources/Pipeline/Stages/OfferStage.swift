import Bonus
import ClubKernel
import ClubProtocol
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
///
/// It reads the log through the training stage (``OfferHandOff``): each entry a rule fires on
/// comes with its user's profile, counted workouts and gear as the training stage learned
/// them, so they are learned once. The stage itself learns and keeps only the personal records.
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
    /// Where the entries come from, with their facts (set by ``receive(from:)`` before the stage runs).
    private var handOff: OfferHandOff?
    /// Users whose stored facts are from a version that kept all of them: rewritten with the
    /// next commit as the records alone.
    private var outdated: Set<String> = []

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
        types = Self.types(engine)
        try await restore()
    }

    /// What the stage reads: the types rules fire on, and personal records.
    private static func types(_ engine: OfferEngine) -> Set<String> { engine.triggers.union([UserFacts.recordType]) }

    /// Reads from `handOff` from now on.
    func receive(from handOff: OfferHandOff) { self.handOff = handOff }

    private func restore() async throws {
        let state = try await store.offersState()
        var engine = OfferEngine(rules: engine.rules, sourcePriority: sourcePriority)
        let decoder = JSONDecoder()
        outdated = []
        for (user, facts) in state.facts {
            let stored = try decoder.decode(UserFacts.self, from: Data(facts))
            engine.facts[user] = stored.records
            if stored != stored.records { outdated.insert(user) }
        }
        engine.restore(try await store.offerCounters())
        for (rule, time) in state.occurrences { engine.restoreOccurrence(rule: rule, at: time) }
        self.engine = engine
        offset = state.position
        storedOffset = offset
    }

    /// Replaces the rules; events from the current offset on are judged by them.
    func reload(_ rules: OfferRules) {
        engine.reload(rules)
        types = Self.types(engine)
    }

    /// What the rules fire on, and personal records; the training stage hands on only these.
    private(set) var types: Set<String>?

    /// The types among ``types`` whose entries need their user's facts (those rules fire on).
    var triggers: Set<String> { engine.triggers }

    func close() async throws {
        guard storedOffset != offset else { return }
        try await commit(position: offset, offers: [], learned: [])
    }

    /// Drops what was applied but not committed: records, counters and position as stored.
    func recover() async throws { try await restore() }

    /// Campaigns, and a commit the training stage waits for (it commits its state only up to
    /// where this stage has committed).
    func due() async throws {
        try await issueDueCampaigns()
        if storedOffset != offset, handOff?.commitWanted != nil { try await commit(position: offset, offers: [], learned: []) }
    }

    func apply(_ records: [ActivityEvent], upTo newOffset: Int64) async throws {
        var offers: [IssuedOffer] = []
        var learned: Set<String> = []
        for record in records {
            if record.type == UserFacts.recordType {
                engine.learn(record)
                learned.insert(record.user)
            }
            guard engine.fires(on: record.type) else { continue }
            var facts = handOff?.facts(at: record.offset) ?? UserFacts()
            facts.bests = engine.facts[record.user]?.bests ?? [:]
            offers += engine.apply(record, facts: facts, balance: engine.readsBalance(record.type) ? await balance(record.user) : nil)
        }
        // Events without effect need no transaction of their own: their position is stored
        // with the next effect, within a second, or when the training stage asks. Replayed
        // after a crash, they have no effect again.
        let now = Clock.nowMillis()
        guard !offers.isEmpty || !learned.isEmpty || !outdated.isEmpty || now - storedAt >= 1000 || handOff?.commitWanted != nil else {
            offset = newOffset
            return
        }
        try await commit(position: newOffset, offers: offers, learned: learned)
        await publish(offers)
    }

    /// Commits the position with the offers and the records of the users who learned some
    /// (and rewrites facts stored by an earlier version as their records alone: the engine
    /// holds records only).
    private func commit(position: Int64, offers: [IssuedOffer], learned: Set<String>) async throws {
        let encoder = JSONEncoder()
        var facts: [String: [UInt8]] = [:]
        for user in learned.union(outdated) { facts[user] = [UInt8](try encoder.encode(engine.facts[user] ?? UserFacts())) }
        try await store.commitOffers(position: position, offers: offers, facts: facts, occurrences: [:])
        outdated = []
        offset = position
        storedOffset = position
        storedAt = Clock.nowMillis()
        handOff?.committed(through: position)
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
                if UserFacts.learns(from: record.type) || engine.fires(on: record.type) {
                    preview.record(engine.apply(record, balance: engine.readsBalance(record.type) ? await balance(record.user) : nil))
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

extension IssuedOffer {
    /// The offer as published, listed and delivered: the contract's payload.
    public var payload: OfferPayload {
        let (user, region): (String?, String?)
        switch audience {
        case .user(let id): (user, region) = (id, nil)
        case .region(let code): (user, region) = (nil, code)
        case .everyone: (user, region) = (nil, nil)
        }
        return OfferPayload(
            code: code, rule: rule, title: title, text: text, discountPercent: discountPercent, discountAmount: discountAmount,
            categories: categories, skus: skus, audience: audience.kind, user: user, region: region, trigger: trigger, issuedAt: Int(issuedAt),
            validUntil: Int(validUntil))
    }

    /// The payload's members, as stored and published.
    public var members: [UInt8] { payload.members }
}
