import ClubKernel
import ClubProtocol
import ClubRuntime
import Events
import Foundation
import JSON
import Logging
import Offers
import Training

/// The Training subsystem's consumer of the activity log: workouts (with duplicate
/// resolution) and profiles feed the leaderboards, which it publishes on
/// `leaderboard.<board>` at most once per board per publish interval, and answers
/// `leaderboard` queries from.
///
/// Its state and log offset are committed together, at most once a minute and at shutdown;
/// after a crash it re-applies the events after the committed offset, which gives the same
/// state (the state is a pure function of the log).
///
/// Its outcomes become activity events for the offer and bonus rules: `training.compared`
/// for each comparison and `leaderboard.final` for each entry of a final board. Their ids
/// follow from what they describe, so a replay raises duplicates, not new events.
actor TrainingStage: LogConsumer {
    static let consumerName = "training"
    nonisolated var name: String { Self.consumerName }
    /// Small batches: queries get the actor between them.
    nonisolated let batchLimit = 200
    /// The event by which a user's imported workouts from one system are forgotten.
    static let importsDeleted = "imports.deleted"
    private let executor = DispatchQueueExecutor(label: "clubd-training")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let store: any ConsumerStateStore
    let publisher: Publisher
    let logger: Logger
    private let raise: @Sendable ([ActivityEvent]) async throws -> Void
    /// Tells the log's consumers that a commit appended events.
    private let logGrew: @Sendable () -> Void
    /// Events the clock decided (missed steps), appended with the next commit of the state.
    var clockRaised: [ActivityEvent] = []
    var config: TrainingConfig
    /// What the stage applies (``types(_:)``).
    private var ownTypes: Set<String>
    /// What the offer stage reads through this one (``handOn(to:types:triggers:)``).
    private var offerTypes: Set<String> = []
    /// Of those, the types rules fire on: handed on with their user's facts.
    private var offerTriggers: Set<String> = []
    private var offerHandOff: OfferHandOff?
    /// What the stage reads: its own types and the offer stage's (set with either); the rest of
    /// the log passes by unread.
    private(set) var types: Set<String>?
    var state = TrainingState()
    /// Members' progress through programmes (``TrainingStage+Programmes.swift``).
    var progress = ProgrammeProgress()
    /// Competitions and their standings (``TrainingStage+Competitions.swift``).
    var competitions = Competitions()
    /// Competitions whose board changed since it was last published.
    var competitionsDirty: Set<String> = []
    var competitionPublishedAt: [String: Int64] = [:]
    /// The users' gear and its mileage.
    var gear = GearBook()
    /// The log offset up to which events are applied (committed later, see above).
    private(set) var offset: Int64 = 0
    /// Events raised and messages produced by applied entries, not yet handed on: gathered
    /// for one append, or raising them failed (the store refused a write). They go first at
    /// the next append, always before any commit, so no raised event is lost and none is
    /// raised twice.
    private var pendingRaised: [ActivityEvent] = []
    /// The append started by ``raiseInBackground()`` and the events it carries.
    private var raising: Task<Void, any Error>?
    private var inFlight: [ActivityEvent] = []
    /// Set when the append in flight has finished (succeeded or failed): then the next one may
    /// start without waiting.
    private var raisingDone = OnceFlag()
    private var pendingMessages: [Publisher.Message] = []
    private var committedOffset: Int64 = 0
    private var committedAt = Clock.nowMillis()
    /// Standings changed since they were last published.
    private var dirty: Set<TrainingState.BoardKey> = []
    private var lastPublishedAt: [String: Int64] = [:]
    /// The top users last published per standings, to tell who moved.
    private var published: [TrainingState.BoardKey: [String]] = [:]
    /// Standings of ended periods whose final board was published.
    private var finalized: Set<TrainingState.BoardKey> = []
    /// What queries read; refreshed at most once a second.
    nonisolated let index: LeaderboardIndex
    private var indexedAt: Int64 = 0

    private struct Persisted: Codable {
        var state: TrainingState
        var finalized: Set<TrainingState.BoardKey>
        /// Absent in states saved before programmes.
        var progress: ProgrammeProgress?
        /// Absent in states saved before competitions.
        var competitions: Competitions?
        /// Absent in states saved before gear.
        var gear: GearBook?
    }

    /// - Parameters:
    ///   - raise: appends activity events to the log.
    ///   - logGrew: tells the log's consumers that a commit of this stage appended events.
    init(
        store: any ConsumerStateStore, config: TrainingConfig, publisher: Publisher, logger: Logger,
        raise: @escaping @Sendable ([ActivityEvent]) async throws -> Void, logGrew: @escaping @Sendable () -> Void
    ) async throws {
        self.store = store
        self.raise = raise
        self.logGrew = logGrew
        self.config = config
        ownTypes = Self.types(config)
        types = ownTypes
        index = LeaderboardIndex(config: config)
        self.publisher = publisher
        self.logger = logger
        if let saved = try await store.consumerState(Self.consumerName) {
            let persisted = try JSONDecoder().decode(Persisted.self, from: Data(saved.state))
            state = persisted.state
            finalized = persisted.finalized
            progress = persisted.progress ?? ProgrammeProgress()
            competitions = persisted.competitions ?? Competitions()
            gear = persisted.gear ?? GearBook()
            index.update(config: config, standings: state.standings)
            offset = saved.offset
            committedOffset = saved.offset
        }
    }

    /// From now on, hands the entries of `types` on to the offer stage through `handOff`, those
    /// of `triggers` with their user's facts (also after the offer rules were reloaded).
    func handOn(to handOff: OfferHandOff, types: Set<String>, triggers: Set<String>) {
        offerHandOff = handOff
        offerTypes = types
        offerTriggers = triggers
        self.types = ownTypes.union(types)
    }

    /// Starts over from the log's first entry, with nothing learned (the state is a function of
    /// the log): for an offer stage that is behind this one, which must be handed every entry
    /// after its own offset with its facts. Final boards already published (``finalized``) are
    /// not published again; steps the clock missed are missed again by the clock, and their
    /// events, with the same ids, are not appended twice.
    func rebuild() {
        state = TrainingState()
        progress = ProgrammeProgress()
        competitions = Competitions()
        gear = GearBook()
        dirty = []
        offset = 0
        index.update(config: config, standings: state.standings)
    }

    /// What the offer rules know of `user` now: the profile, the counted workouts, the gear.
    private func offerFacts(of user: String) -> UserFacts {
        let profile = state.profiles[user]
        return UserFacts(region: profile?.region, interests: profile?.interests ?? [], workouts: state.books[user] ?? WorkoutBook(), gear: gear.only(user))
    }

    /// The region of `user`'s profile, if the log has one.
    func region(of user: String) -> String? { state.profiles[user]?.region }

    /// The types the stage applies: workouts (and the session type that counts as one),
    /// profiles, forgotten imports, enrolments, competitions, gear.
    static func types(_ config: TrainingConfig) -> Set<String> {
        Set(["workout", "profile", config.sessionEventType, importsDeleted]).union(EventDecoder.programmeTypes).union(Competitions.types)
            .union(GearBook.types)
    }

    /// A user's workouts starting in `from..<to`, in start order, and whether each counts
    /// (a recognised copy of another does not).
    func workouts(of user: String, from: Int64, to: Int64) -> [(workout: Workout, counted: Bool)] {
        guard let book = state.books[user] else { return [] }
        return book.workouts.filter { $0.start >= from && $0.start < to }.sorted { $0.start < $1.start }
            .map { ($0, book.counted.contains($0.id)) }
    }

    /// New boards apply to workouts from the next event on; standings of removed boards stay
    /// until their period ends. A changed catalogue applies to enrolments from then on: steps
    /// done or missed stay as they are.
    func reload(_ config: TrainingConfig) {
        if config.catalogue != self.config.catalogue { progress.catalogueChanged() }
        self.config = config
        ownTypes = Self.types(config)
        types = ownTypes.union(offerTypes)
        index.update(config: config, standings: state.standings)
    }

    func apply(_ records: [ActivityEvent], upTo newOffset: Int64) async throws {
        var messages: [Publisher.Message] = []
        var raised: [ActivityEvent] = []
        var handed: [OfferHandOff.Entry] = []
        // What the offer stage has committed needs no facts (a replay of this stage).
        let offersCommitted = offerHandOff?.committedOffset ?? .max
        for record in records {
            apply(record, messages: &messages, raised: &raised)
            if record.offset > offersCommitted, offerTypes.contains(record.type) {
                handed.append(.init(event: record, facts: offerTriggers.contains(record.type) ? offerFacts(of: record.user) : nil))
            }
        }
        if let offerHandOff {
            // Bounded: while the offer stage is behind by a full hand-off, wait for it (a while:
            // never for ever, should it be failing).
            let deadline = Clock.nowMillis() + 2_000
            while !offerHandOff.hasRoom, Clock.nowMillis() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
            offerHandOff.hand(handed, through: newOffset)
        }
        offset = newOffset
        pendingRaised += raised
        pendingMessages += messages
        // Raised events go to the log in transactions of a few thousand, not one per batch;
        // the rest with the drain's last batch (fewer entries than asked for), so that the
        // stage reports no lag while it still holds events to raise.
        if records.count < batchLimit {
            try await handOn()
        } else {
            // While the append in flight has not finished, the stage goes on and gathers more
            // (one larger transaction next), waiting for it only with a backlog of several batches.
            if pendingRaised.count >= Self.raiseBatch, raising == nil || raisingDone.isSet || pendingRaised.count >= Self.raiseBacklog {
                try await raiseInBackground()
            }
            await publishPending()
        }
        refreshIndex()
    }

    /// Raised events gathered before an append starts; a drain's last batch raises what is left.
    static let raiseBatch = 2_000
    /// Raised events gathered at most while an append is in flight: then the stage waits for it.
    static let raiseBacklog = 16_000

    /// Raises the pending events (after the append in flight, if any), then publishes the
    /// pending messages.
    private func handOn() async throws {
        try await finishRaising()
        if !pendingRaised.isEmpty {
            try await raise(pendingRaised)
            pendingRaised = []
        }
        await publishPending()
    }

    /// Starts appending the pending events while the stage goes on applying the next batch:
    /// the append is awaited before the next one starts and before anything is committed.
    private func raiseInBackground() async throws {
        try await finishRaising()
        let events = pendingRaised
        pendingRaised = []
        inFlight = events
        let raise = self.raise
        let done = OnceFlag()
        raisingDone = done
        raising = Task {
            defer { done.set() }
            try await raise(events)
        }
    }

    /// Waits for the append in flight; on failure its events are pending again, first.
    private func finishRaising() async throws {
        guard let task = raising else { return }
        raising = nil
        do {
            try await task.value
            inFlight = []
        } catch {
            pendingRaised = inFlight + pendingRaised
            inFlight = []
            throw error
        }
    }

    private func publishPending() async {
        if !pendingMessages.isEmpty {
            let messages = pendingMessages
            pendingMessages = []
            await publisher.publish(messages)
        }
    }

    /// Entries applied stay applied (the state is a pure function of the log): what a failed
    /// step left to do is handing on what they produced.
    func recover() async throws { try await handOn() }

    func due() async throws {
        try await handOn()
        refreshIndex()
        try await publishDue()
        try await expireSteps(now: Clock.nowMillis())
        try await finishCompetitions(now: Clock.nowMillis())
        if Clock.nowMillis() - committedAt >= Self.commitInterval { try await commit() }
    }

    func close() async throws {
        try await publishDue(force: true)
        await publishCompetitions(force: true)
        try await commit()
    }

    private func apply(_ record: ActivityEvent, messages: inout [Publisher.Message], raised: inout [ActivityEvent]) {
        guard ownTypes.contains(record.type) else { return }
        if GearBook.types.contains(record.type) {
            do throws(Refusal) {
                try gear.apply(record)
            } catch {
                messages.append(Self.rejected(record, error.reason, error.message))
            }
            return
        }
        if Competitions.types.contains(record.type) { return competitions.apply(record) }
        if EventDecoder.programmeTypes.contains(record.type) { return applyProgrammeEvent(record, messages: &messages) }
        let body = record.body
        if record.type == "profile" {
            state.apply(profile: body)
            return
        }
        if record.type == Self.importsDeleted {
            if let system = body["system"]?.stringValue {
                let applied = state.forgetImports(user: record.user, system: system, config: config)
                dirty.formUnion(applied.boards)
                placeInCompetitions(applied)
                raised += gear.place(counted: applied.counted, uncounted: applied.uncounted)
            }
            return
        }
        if record.type == config.sessionEventType {
            if let workout = Workout.fromSession(body, offset: record.offset) { add(workout, messages: &messages, raised: &raised) }
            return
        }
        switch Workout.from(body, offset: record.offset) {
        case .success(let workout):
            add(workout, messages: &messages, raised: &raised)
        case .failure(let error):
            messages.append(Self.rejected(record, error.reason, error.message))
        }
    }

    /// The `rejected` message of a log entry the stage cannot apply (its id, `source: training`).
    static func rejected(_ record: ActivityEvent, _ reason: RejectReason, _ message: String) -> Publisher.Message {
        let payload = RejectedPayload(code: reason.code, message: message, source: "training", event: record.id)
        return Publisher.Message(topic: "rejected", members: payload.members)
    }

    private func add(_ workout: Workout, messages: inout [Publisher.Message], raised: inout [ActivityEvent]) {
        let applied: TrainingState.Applied
        do {
            // A view for the call only: held while the competitions change, it would copy them.
            let view = competitions
            applied = state.apply(workout, config: config, groups: { view.groups(of: $0) })
        }
        dirty.formUnion(applied.boards)
        placeInCompetitions(applied)
        raised += gear.place(counted: applied.counted, uncounted: applied.uncounted)
        progressed(by: applied.counted, raised: &raised)
        for comparison in applied.comparisons {
            let members = Self.payload(comparison).members
            messages.append(Publisher.Message(topic: "comparison.\(comparison.workout.user)", members: members))
            let id = "compared:\(comparison.workout.id):\(comparison.band):\(comparison.scope)"
            raised.append(.raised("training.compared", id: id, user: comparison.workout.user, at: comparison.workout.end, members: members))
        }
    }

    /// The `comparison.<user>` payload of a comparison.
    private static func payload(_ c: Comparison) -> ComparisonPayload {
        ComparisonPayload(
            user: c.workout.user, workout: c.workout.id, sport: c.workout.sport, band: c.band, scope: c.scope,
            start: Int(c.workout.start), distanceMeters: c.workout.distance, resultSeconds: c.seconds, rank: c.rank,
            cohortSize: c.cohortSize, percentile: c.percentile, cohortMedianSeconds: c.medianSeconds, cohortBestSeconds: c.bestSeconds,
            exact: c.exact, personalBestSeconds: c.personalBestSeconds)
    }

    /// Milliseconds between two commits of the state.
    static let commitInterval: Int64 = 60_000

    /// Shares the standings with queries, at most once a second: each share makes the next
    /// change to a board copy its lookup tables, so sharing more often costs throughput.
    private func refreshIndex() {
        let now = Clock.nowMillis()
        guard now - indexedAt >= 1000 else { return }
        indexedAt = now
        let replaced = index.update(config: config, standings: state.standings)
        withExtendedLifetime(replaced) {}  // released here, on the stage's thread
    }

    /// Commits the state with its offset and, in the same transaction, appends the events the
    /// clock decided (``clockRaised``), which a replay would not decide again the same way.
    func commit() async throws {
        // Raised events first: once the offset is committed, a restart would not raise them again.
        try await handOn()
        let raising = clockRaised
        guard offset != committedOffset || !raising.isEmpty else { return }
        // Never ahead of the offer stage: a replay from here hands on what it has not committed.
        if let offerHandOff, !(await offerHandOff.waitCommitted(through: offset, timeout: .seconds(5))) {
            logger.warning("training state not committed: the offer stage has not committed as far", metadata: ["offset": "\(offset)"])
            return
        }
        // Encode a copy off the actor, so that queries are not held up by a large state.
        let persisted = Persisted(state: state, finalized: finalized, progress: progress, competitions: competitions, gear: gear)
        let position = offset
        let started = Clock.nowMillis()
        let blob = try await Task.detached { try JSONEncoder().encode(persisted) }.value
        logger.debug("training state encoded", metadata: ["bytes": "\(blob.count)", "ms": "\(Clock.nowMillis() - started)"])
        try await store.commitConsumer(Self.consumerName, offset: position, state: [UInt8](blob), raising: raising)
        if !raising.isEmpty {
            clockRaised.removeFirst(raising.count)
            logGrew()
        }
        committedOffset = position
        committedAt = Clock.nowMillis()
    }

    // MARK: Publishing

    /// Publishes changed standings whose board's interval has passed, and the final board of
    /// every period that has ended.
    private func publishDue(force: Bool = false) async throws {
        let now = Clock.nowMillis()
        var messages: [Publisher.Message] = []
        var raised: [ActivityEvent] = []
        var boards: Set<String> = []
        for key in dirty.sorted() {
            guard force || now - (lastPublishedAt[key.board] ?? .min / 2) >= config.publishIntervalMillis else { continue }
            dirty.remove(key)
            guard let spec = config.boards.first(where: { $0.id == key.board }), let standings = state.standings[key] else { continue }
            messages.append(message(spec, key, standings, final: false))
            boards.insert(key.board)
        }
        for board in boards { lastPublishedAt[board] = now }
        var currentPeriod: [String: String] = [:]
        for spec in config.boards { currentPeriod[spec.id] = spec.period.key(of: now, calendar: config.calendar) }
        for (key, standings) in state.standings where !finalized.contains(key) {
            guard let spec = config.boards.first(where: { $0.id == key.board }), spec.period != .allTime,
                key.period != currentPeriod[key.board], !dirty.contains(key)
            else { continue }
            messages.append(message(spec, key, standings, final: true))
            raised += Self.placements(spec, key, standings, at: now)
            finalized.insert(key)
        }
        pendingRaised += raised
        pendingMessages += messages
        try await handOn()
        await publishCompetitions(force: force)
    }

    /// A `leaderboard.final` activity event per entry of a final board.
    private static func placements(
        _ spec: LeaderboardSpec, _ key: TrainingState.BoardKey, _ standings: Standings, at now: Int64
    ) -> [ActivityEvent] {
        standings.top(spec.size).enumerated().map { index, entry in
            var w = JSONWriter()
            w.member("user", entry.user)
            w.member("board", spec.id)
            w.member("metric", spec.metric.rawValue)
            w.member("period", key.period)
            w.member("scope", key.scope)
            w.member("rank", index + 1)
            w.member("value", published(entry.value))
            w.member("ranked", standings.count)
            let id = "final:\(spec.id):\(key.period):\(key.scope):\(index + 1)"
            return .raised("leaderboard.final", id: id, user: entry.user, at: now, members: w.bytes)
        }
    }

    private func message(_ spec: LeaderboardSpec, _ key: TrainingState.BoardKey, _ standings: Standings, final: Bool) -> Publisher.Message {
        let board = Self.board(spec, key, standings)
        let before = published[key] ?? []
        var moved: [LeaderboardPayload.Move] = []
        for entry in board.entries {
            let previous = before.firstIndex(of: entry.user).map { $0 + 1 }
            guard previous != entry.rank else { continue }
            moved.append(.init(user: entry.user, rank: entry.rank, previousRank: previous))
        }
        published[key] = board.entries.map(\.user)
        let payload = LeaderboardPayload(board: board, final: final, moved: moved)
        return Publisher.Message(topic: "leaderboard.\(key.board)", members: payload.members)
    }

    /// A board's top entries in a period and scope, as published and as a query answers them.
    static func board(_ spec: LeaderboardSpec, _ key: TrainingState.BoardKey, _ standings: Standings) -> LeaderboardReply {
        LeaderboardReply(
            board: spec.id, metric: spec.metric.rawValue, period: key.period, scope: key.scope, ranked: standings.count,
            entries: standings.top(spec.size).enumerated().map { index, entry in
                .init(rank: index + 1, user: entry.user, value: published(entry.value))
            })
    }

    /// A board value as published and answered: to a thousandth.
    static func published(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}


