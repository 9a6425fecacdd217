import Bonus
import ClubKernel
import ClubProtocol
import ClubRuntime
import Events
import Foundation
import Imports
import JSON
import Logging
import Metrics
import Community
import Offers
import Telemetry
import Training
import Synchronization
import Users
import ZMQ

/// Runs the pipelines: one consumer loop takes decoded ingest batches, submitted samples,
/// snapshot and reload requests from the inbox in order, fans samples out to the window
/// stages, publishes what they produce and records closed windows. Other events go to the
/// activity log, which the bonus, training and offer stages and the activity feed consume
/// at their own pace.
///
/// Because a single loop applies everything, a snapshot always sits between two batches
/// and includes exactly the journal entries processed before it.
public actor PipelineRuntime {
    /// Settings of the runtime, from the daemon's configuration.
    public struct Options: Sendable {
        public var ingestEndpoint = "tcp://127.0.0.1:7001"
        public var publishEndpoint = "tcp://127.0.0.1:7003"
        /// Where stages in other processes hand the publisher their batches (none by default).
        public var publishChannelEndpoints: [String] = []
        public var receiveHighWaterMark = 1_000
        public var sendHighWaterMark = 100_000
        public var maxMessageBytes = 16 << 20
        /// Ingest batches waiting for the consumer loop, at most …
        public var inboxBatches = 64
        /// … holding at most this many bytes of frames as received.
        public var inboxBytes = 8 << 20
        public var limits = EventDecoder.Limits()
        /// `security.mode: curve`: the ingest and publish sockets are CurveZMQ servers (the
        /// context's ZAP handler admits the keys); nil in open mode.
        public var curve: CurveServer?
        /// The telemetry history's retentions and minute windows; nil: no history is kept.
        public var history: HistorySettings? = HistorySettings()
        /// How often the history's retention runs.
        public var historyRetentionInterval: Duration = .seconds(60)

        public init() {}
    }

    private let decoder: EventDecoder
    let store: any PipelineStore
    private let inbox: Inbox<Inbound>
    private let receiver: IngestReceiver<Inbound>
    private let publisher: Publisher
    private var stages: [WindowStage]
    private let recordStage: RecordStage
    /// The telemetry history (``HistoryStage``); nil when `history.enabled` is false.
    let history: HistoryStage?
    private let historyRetentionInterval: Duration
    private let bonus: BonusStage
    private let feed: ActivityFeed
    let training: TrainingStage
    /// The training catalogue, as the last (re)load gave it: ingest and `submit` check
    /// enrolments against it, and the catalogue ops read it.
    let catalogue: Mutex<Catalogue>
    private let offers: OfferStage
    /// How the training stage hands entries and facts on to the offer stage.
    private let offerHandOff: OfferHandOff
    /// The Community subsystem's stage: groups, sessions, discussions (``PipelineRuntime+Community.swift``).
    let community: CommunityStage
    /// Attendance against the community stage's schedule and running together, detected in the
    /// telemetry this loop processes; snapshotted with the windows.
    let detectors: CommunityDetectors
    /// One signal per log consumer, notified when the log grows.
    private let logSignals: LogSignals
    /// The log consumers' runners, in start order: bonus, feed, training, offers, community.
    private let runners: [StageRunner]
    /// The community stage's runner (one of ``runners``), caught up before the journal replays.
    private let communityRunner: StageRunner
    private var consumerTasks: [Task<Void, Never>] = []
    /// The history's retention, every `historyRetentionInterval`.
    private var retentionTask: Task<Void, Never>?
    /// Puts a ``Inbound/tick`` in the inbox every second.
    private var clockTask: Task<Void, Never>?
    /// A tick waits in the inbox (shared with the clock task).
    private let tickPending = Mutex(false)
    /// Closed windows and raised events not yet handed to a write (or refused by the store),
    /// oldest first.
    private var pendingWindows: [WindowRecord] = []
    private var pendingRaised: [ActivityEvent] = []
    /// The write in flight, if any: one at a time, so what is written keeps its order; the
    /// loop goes on with the next batch meanwhile (a write waits for the store's commit,
    /// `synchronous = FULL`, which the loop used to wait for at every batch).
    private var writeInFlight: Task<Void, Never>?
    /// Most closed windows and raised events waiting while a write is in flight before the
    /// loop waits for it: what is in memory stays bounded when the store is slower than the loop.
    static let pendingBacklog = 20_000
    /// The telemetry stage's own status (the pipeline loop), reported beside the log consumers.
    private var telemetryError: String?
    private var telemetryFailures = 0
    /// Most closed windows and raised events held while the store refuses them; beyond, the
    /// oldest are dropped and counted (`clubd_pending_dropped_total`).
    static let pendingLimit = 200_000
    private let logger: Logger
    /// Highest journal entry such that it and all before it have been processed.
    private var journalPosition: Int64 = 0
    /// Journal entries processed out of order, above `journalPosition`.
    private var journalAhead: Set<Int64> = []
    private var lastSnapshotAt: Int64 = 0
    /// The snapshot being encoded and saved, if any; the next one waits for it.
    private var pendingSave: Task<Void, Never>?
    private let snapshotExecutor = DispatchTaskExecutor(label: "clubd-snapshots")
    /// Last time the loop finished an item, for the systemd watchdog.
    public private(set) var lastProgressAt: Int64 = Clock.nowMillis()

    public nonisolated let ingestEndpoint: String
    public nonisolated let publishEndpoint: String

    private let acceptedCounter = Counter(label: "clubd_events_accepted_total")
    private let framesCounter = Counter(label: "clubd_ingest_frames_total")
    private let lateCounter = Counter(label: "clubd_late_total")
    private let duplicateCounter = Counter(label: "clubd_duplicates_total")
    private let windowsCounter = Counter(label: "clubd_windows_emitted_total")
    private let inboxGauge = Gauge(label: "clubd_inbox_depth")
    private let snapshotTimer = Metrics.Timer(label: "clubd_snapshot_duration_seconds")
    private let snapshotBytes = Gauge(label: "clubd_snapshot_bytes")
    /// Stored raw-sample chunks a `history` read could not decode (skipped).
    let corruptChunks = Counter(label: "clubd_history_corrupt_chunks_total")

    /// Binds the ingest and publish sockets and restores state from the store.
    /// - Throws: when a socket cannot bind or the snapshot cannot be read.
    public init(
        context: ZMQContext, options: Options, pipelines: [PipelineDefinition], bonusRules: BonusRules,
        training: TrainingConfig, offerRules: OfferRules, community: CommunityConfig = CommunityConfig(), store: any PipelineStore,
        logger: Logger
    ) async throws {
        self.decoder = EventDecoder(limits: options.limits)
        self.store = store
        self.logger = logger
        let inbox = Inbox<Inbound>(capacity: options.inboxBatches, maxWeight: options.inboxBytes)
        self.inbox = inbox
        let publisher = try Publisher(
            context: context, endpoint: options.publishEndpoint, sendHighWaterMark: options.sendHighWaterMark,
            channelEndpoints: options.publishChannelEndpoints, curveSecretKey: options.curve?.secretKey)
        self.publisher = publisher
        publishEndpoint = publisher.boundEndpoint

        let restoreBegan = ContinuousClock.now
        let snapshot = try await store.loadSnapshot()
        let loaded = ContinuousClock.now
        if let seqs = snapshot?.parts["publisher"] { try await publisher.restore(seqs) }
        // The record tracker decodes beside the window stages (both one entry per user: at
        // 100,000 users 0.2 s and 0.5 s on one core each).
        async let records = Self.timed {
            try RecordStage(distances: training.recordDistances, idleMillis: training.recordIdleMillis, snapshot: snapshot)
        }
        var stages: [WindowStage] = []
        for definition in pipelines {
            stages.append(try Self.makeStage(definition, snapshot: snapshot, logger: logger))
        }
        self.stages = stages
        let windowsDecoded = ContinuousClock.now
        let (recordStage, recordsTook) = try await records
        self.recordStage = recordStage
        let historySource = options.history.flatMap { Self.historySource(stages, $0) }
        historySourceIndex = historySource
        history = options.history.map {
            HistoryStage(
                settings: $0, sharedMinutes: historySource != nil, snapshot: snapshot, store: store,
                logger: logger)
        }
        historyRetentionInterval = options.historyRetentionInterval
        journalPosition = snapshot?.journalPosition ?? 0
        let bonus = try await BonusStage(store: store, rules: bonusRules, publisher: publisher, logger: logger)
        self.bonus = bonus
        feed = try await ActivityFeed(store: store, publisher: publisher, logger: logger)
        let signals = LogSignals()
        logSignals = signals
        catalogue = Mutex(training.catalogue)
        self.training = try await TrainingStage(
            store: store, config: training, publisher: publisher, logger: logger,
            raise: { records in
                _ = try await store.appendActivity(records, receivedAt: Clock.nowMillis())
                signals.notifyAll()
            },
            logGrew: { signals.notifyAll() })
        let offers = try await OfferStage(
            store: store, rules: offerRules, sourcePriority: training.sourcePriority, publisher: publisher, logger: logger,
            balance: { await bonus.balance(of: $0) })
        self.offers = offers
        // The offer stage reads the log through the training stage, which hands on each entry
        // the rules fire on with its user's facts (learned once, there).
        let (trainingOffset, offersOffset) = (await self.training.offset, await offers.offset)
        if offersOffset < trainingOffset {
            // The offer stage's file was removed, or it is of a version whose offer stage read the
            // log itself: the training stage learns again from the start to hand it every entry.
            logger.notice(
                "offer stage behind the training stage: the training stage rebuilds its state from the activity log",
                metadata: ["offers": "\(offersOffset)", "training": "\(trainingOffset)"])
            await self.training.rebuild()
        }
        let handOff = OfferHandOff(
            handed: await self.training.offset, committed: offersOffset, signal: signals.offers, newest: { store.newestActivityOffset })
        offerHandOff = handOff
        await offers.receive(from: handOff)
        await Self.handOffers(handOff, from: self.training, to: offers)
        self.community = try await CommunityStage(
            store: store, config: community, logger: logger,
            raise: { records in
                _ = try await store.appendActivity(records, receivedAt: Clock.nowMillis())
                signals.notifyAll()
            })
        detectors = CommunityDetectors(
            attendance: Self.restore(AttendanceDetector.self, snapshot?.parts[Self.attendancePart], logger: logger) ?? AttendanceDetector(),
            together: Self.restore(TogetherDetector.self, snapshot?.parts[Self.togetherPart], logger: logger) ?? TogetherDetector(),
            board: self.community.board, config: community)
        communityRunner = await StageRunner(consumer: self.community, log: store, signal: signals.community, logger: logger)
        runners = [
            await StageRunner(consumer: bonus, log: store, signal: signals.bonus, logger: logger),
            await StageRunner(consumer: feed, log: store, signal: signals.feed, logger: logger),
            await StageRunner(consumer: self.training, log: store, signal: signals.training, logger: logger),
            await StageRunner(consumer: offers, log: handOff, signal: signals.offers, logger: logger),
            communityRunner,
        ]

        receiver = try IngestReceiver(
            context: context,
            options: .init(
                endpoint: options.ingestEndpoint, receiveHighWaterMark: options.receiveHighWaterMark,
                maxMessageBytes: options.maxMessageBytes, curve: options.curve),
            decoder: decoder, inbox: inbox, logger: logger,
            batch: { decoded, frames, receivedAt in .ingested(decoded, frames: frames, receivedAt: receivedAt) })
        ingestEndpoint = receiver.boundEndpoint
        logger.info(
            "state restored",
            metadata: [
                "snapshot_taken_at": "\(snapshot?.takenAt ?? 0)", "journal_position": "\(journalPosition)",
                "history_minutes": "\(options.history == nil ? "off" : historySourceIndex.map { "pipeline \(stages[$0].definition.name)" } ?? "own operator")",
                "load_ms": "\((loaded - restoreBegan).milliseconds)", "windows_ms": "\((windowsDecoded - loaded).milliseconds)",
                "records_ms": "\(recordsTook.milliseconds)", "total_ms": "\((ContinuousClock.now - restoreBegan).milliseconds)",
            ])
    }

    /// A stage's snapshot is marked with its window spec, so that a changed definition never
    /// restores state computed under another one.
    private static func snapshotPrefix(of definition: PipelineDefinition) -> [UInt8] {
        Array(String(describing: definition.window).utf8) + [0]
    }

    /// The keyed part holding a stage's users (one entry each), and the part holding its spec.
    static func stagePart(_ definition: PipelineDefinition) -> (entries: String, spec: String) {
        ("stage.\(definition.name)", "stage.\(definition.name).spec")
    }

    /// `body`'s result and how long it took.
    private static func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
        let began = ContinuousClock.now
        let result = try body()
        return (result, ContinuousClock.now - began)
    }

    /// The stage restored from its entries (incremental snapshots), or from the whole-state
    /// part of an earlier version (prefixed with its spec), or new.
    private static func makeStage(_ definition: PipelineDefinition, snapshot: StateSnapshot?, logger: Logger) throws -> WindowStage {
        let part = stagePart(definition)
        let prefix = snapshotPrefix(of: definition)
        if let spec = snapshot?.parts[part.spec] {
            if spec == prefix { return try WindowStage(definition: definition, entries: snapshot?.storedEntries(of: part.entries) ?? []) }
        } else if let saved = snapshot?.parts[part.entries], saved.starts(with: prefix) {
            return try WindowStage(definition: definition, snapshot: Array(saved.dropFirst(prefix.count)))
        }
        if snapshot?.parts[part.spec] != nil || snapshot?.parts[part.entries] != nil {
            logger.warning("pipeline definition changed; its windows start empty", metadata: ["pipeline": "\(definition.name)"])
        }
        return try WindowStage(definition: definition)
    }

    /// Replays journal entries newer than the snapshot. Call once, before ``run()``.
    public func replayJournal() async throws {
        // Attendance is detected against the sessions of the whole log, not only of the
        // community stage's last commit.
        try await communityRunner.catchUp()
        let entries = try await store.journal(after: journalPosition)
        for entry in entries {
            var decoded = DecodedEvents()
            decoder.decode(frame: entry.payload, now: Clock.nowMillis() + decoder.limits.maxFutureMillis, into: &decoded)
            await process(decoded.samples, now: nil)
            markJournaled(entry.seq)
        }
        if !entries.isEmpty { logger.info("journal replayed", metadata: ["entries": "\(entries.count)"]) }
    }

    /// Starts the log consumers (each on its own runner), the ticker that wakes them for work
    /// falling due without new events, the pipeline loop's clock tick (idle users' windows) and
    /// the history's retention; ``stopLogConsumers()`` ends them all.
    public func startLogConsumers() {
        let signals = logSignals
        let history = history
        let retentionInterval = historyRetentionInterval
        clockTask = Task { [weak self] in
            // Idle users' windows close on the daemon's clock: one tick a second.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self, self.queueTick() else { return }
            }
        }
        retentionTask = Task {
            guard let history else { return }
            while !Task.isCancelled {
                await history.enforceRetention()
                try? await Task.sleep(for: retentionInterval)
            }
        }
        consumerTasks = runners.map { runner in Task { await runner.run() } } + [
            Task {
                // Expiries, coalesced leaderboard publications, period ends and campaigns
                // fall due without new events: look a few times a second.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    signals.tick()
                    await self.decideCommunity()
                    await self.retryPending()
                }
            },
        ]
    }

    /// Queues a clock tick unless one already waits. Returns false once the inbox is closed.
    private nonisolated func queueTick() -> Bool {
        let queue = tickPending.withLock { pending in
            defer { pending = true }
            return !pending
        }
        return !queue || inbox.putUnbounded(.tick)
    }

    /// Starts taking ingest frames.
    public nonisolated func startReceiving() { receiver.start() }

    /// Stops taking ingest frames; frames already received stay in the inbox for ``run()``.
    public nonisolated func stopReceiving() { receiver.stop() }

    /// Ends ``run()`` once it has processed everything already in the inbox; later
    /// submits are answered `shutting_down`.
    public nonisolated func closeInbox() { inbox.close() }

    /// The consumer loop; returns after ``closeInbox()`` once everything received is processed.
    public func run() async {
        while let item = await inbox.next() {
            switch item {
            case .ingested(var decoded, let frames, let receivedAt):
                framesCounter.increment(by: Int64(frames))
                screen(&decoded)
                await publishRejections(decoded.rejections, source: "ingest")
                await appendActivity(decoded.events, receivedAt: receivedAt)
                await process(decoded.samples, now: Clock.nowMillis())
            case .submitted(let samples, let seq):
                await process(samples, now: Clock.nowMillis())
                markJournaled(seq)
            case .tick:
                tickPending.withLock { $0 = false }
                await process([], now: Clock.nowMillis())
            case .snapshot(let continuation):
                // The windows a snapshot holds as emitted are recorded before it is taken.
                await flushPending()
                let captured = await captureSnapshot()
                let previous = pendingSave
                pendingSave = Task(executorPreference: snapshotExecutor) {
                    await previous?.value
                    do {
                        continuation.resume(returning: try await self.save(captured))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            case .reload(let definitions, let continuation):
                continuation.resume(returning: await replace(definitions))
            }
            lastProgressAt = Clock.nowMillis()
            inboxGauge.record(inbox.depth)
        }
    }

    /// Appends ingested events to the activity log; a repeated id is counted as a duplicate,
    /// an external workout without consent is refused.
    private func appendActivity(_ events: [ClubEvent], receivedAt: Int64) async {
        guard !events.isEmpty else { return }
        do {
            let appended = try await store.appendActivity(events.map { Self.record($0, receivedAt: receivedAt) }, receivedAt: receivedAt)
            duplicateCounter.increment(by: Int64(appended.filter { $0 == .duplicate }.count))
            await publishRejections(Self.refusals(appended, events), source: "ingest")
            notifyLogConsumers()
        } catch {
            // Not acknowledged, so not kept: the senders learn it on `rejected`.
            logger.error("cannot append ingested events to the activity log", metadata: ["error": "\(error)"])
            let message = "the store could not make the event durable: \(error)"
            await publishRejections(
                events.map { Rejection(.storageFailed, message, index: $0.index, excerpt: Rejection.excerpt(of: $0.json)) },
                source: "ingest")
        }
    }

    private nonisolated func notifyLogConsumers() { logSignals.notifyAll() }

    static func record(_ event: ClubEvent, receivedAt: Int64) -> ActivityEvent {
        ActivityEvent(
            id: event.id, type: event.type, user: event.user, at: event.ts ?? receivedAt, json: event.json, body: event.body,
            consent: consent(of: event), sender: event.sender)
    }

    /// A `connection` grants or revokes; a workout from an external system needs consent.
    static func consent(of event: ClubEvent) -> ConsentEffect? {
        switch event.type {
        case "connection":
            guard let system = event.body["system"]?.stringValue else { return nil }
            return .connection(system: system, active: event.body["state"]?.stringValue == "active")
        case "workout":
            guard let source = event.body["source"]?.stringValue, !Connections.ownSources.contains(source) else { return nil }
            return .needs(system: source)
        default:
            return nil
        }
    }

    /// The rejections the log decided among the outcomes of `events` (`no_consent`, and the
    /// community gate's `unknown_group`, `forbidden` …).
    public static func refusals(_ outcomes: [AppendOutcome], _ events: [ClubEvent]) -> [Rejection] {
        zip(outcomes, events).compactMap { outcome, event in
            guard case .refused(let reason, let message) = outcome else { return nil }
            return Rejection(reason, message, index: event.index, excerpt: Rejection.excerpt(of: event.json))
        }
    }

    /// The stage whose windows are the history's minutes (its spec is ``HistorySettings/spec``);
    /// nil when the history has its own operator, or is off.
    private var historySourceIndex: Int?

    /// The first stage windowing exactly as the history's minutes do.
    static func historySource(_ stages: [WindowStage], _ settings: HistorySettings) -> Int? {
        stages.firstIndex { $0.definition.window == settings.spec }
    }

    /// The open minutes of `user` where the history shares a pipeline's, else none (the
    /// history has its own), and the history's overlay over them.
    func historyOverlay(of user: String) async -> HistoryOverlay? {
        guard let history else { return nil }
        var open: [WindowResult] = []
        if let index = historySourceIndex { open = await stages[index].openResults(of: user) }
        return await history.overlay(of: user, open: open)
    }

    /// Samples processed since start (replayed ones included).
    private var processedCount = 0

    /// Runs samples that arrived at `now` (nil: replayed from the journal) through every
    /// stage; an empty batch is a tick of the clock that closes idle users' windows.
    private func process(_ samples: [TelemetrySample], now: Int64?) async {
        processedCount += samples.count
        acceptedCounter.increment(by: Int64(samples.count))
        async let personalRecords = recordStage.handle(samples, now: now)
        async let detected: Void = samples.isEmpty ? () : detectors.observe(samples, now: Clock.nowMillis())
        // The history's minutes: a pipeline's windows when one has their spec, else its own operator.
        let shared = historySourceIndex
        async let historyRecorded: Void = { [history] in if shared == nil { await history?.handle(samples, now: now) } }()
        let outputs = await withTaskGroup(of: (Int, WindowStage.Output).self) { group in
            for (index, stage) in stages.enumerated() { group.addTask { (index, await stage.handle(samples, now: now)) } }
            var outputs: [(Int, WindowStage.Output)] = []
            for await output in group { outputs.append(output) }
            return outputs.sorted { $0.0 < $1.0 }.map(\.1)
        }
        // Beside the publishing below.
        async let historyShared: Void = { [history] in
            if let shared, let history { await history.handle(samples, windows: outputs[shared].windows, now: now) }
        }()
        var messages: [Publisher.Message] = []
        var records: [WindowRecord] = []
        var activity = await personalRecords
        for output in outputs {
            messages += output.messages
            records += output.records
            activity += output.activity
            if output.late > 0 { lateCounter.increment(by: Int64(output.late)) }
            if output.duplicates > 0 { duplicateCounter.increment(by: Int64(output.duplicates)) }
        }
        if !records.isEmpty { windowsCounter.increment(by: Int64(records.count)) }
        if !messages.isEmpty { await publisher.publish(messages) }
        await detected
        await historyRecorded
        await historyShared
        pendingWindows += records
        pendingRaised += activity
        writePending()
        if let inFlight = writeInFlight, pendingWindows.count + pendingRaised.count > Self.pendingBacklog, telemetryError == nil {
            await inFlight.value
        }
    }

    /// Whether no ingested batch waits for the loop.
    var inboxIsEmpty: Bool { inbox.depth == 0 }

    /// Queues events the loop raised for the next write (``writePending()``).
    func appendRaised(_ events: [ActivityEvent]) { pendingRaised += events }

    /// Starts writing the closed windows and raised events pending, unless a write is in
    /// flight (which starts the next one when it ends). The caller does not wait for it; see
    /// ``flushPending()``.
    func writePending() {
        guard writeInFlight == nil, !pendingWindows.isEmpty || !pendingRaised.isEmpty else { return }
        let windows = pendingWindows
        let raised = pendingRaised
        pendingWindows = []
        pendingRaised = []
        writeInFlight = Task { await self.write(windows, raised) }
    }

    /// Waits until what is pending now has been written, or refused (kept for the ticker's retry).
    func flushPending() async {
        while let inFlight = writeInFlight { await inFlight.value }
        writePending()
        while let inFlight = writeInFlight { await inFlight.value }
    }

    /// Writes closed windows and raised events; what the store refuses goes back in front of
    /// what arrived meanwhile, for the ticker's retry. Only a refusal that lasts for
    /// `pendingLimit` items loses the oldest.
    private func write(_ windows: [WindowRecord], _ raised: [ActivityEvent]) async {
        var windows = windows
        var raised = raised
        do {
            if !windows.isEmpty {
                try await store.record(windows)
                windows = []
            }
            if !raised.isEmpty {
                _ = try await store.appendActivity(raised, receivedAt: Clock.nowMillis())
                raised = []
                notifyLogConsumers()
            }
            if telemetryError != nil {
                logger.notice("stage recovered", metadata: ["stage": "telemetry"])
                telemetryError = nil
            }
        } catch {
            if telemetryError == nil {
                logger.error("cannot record closed windows or raise their events; kept to retry", metadata: ["error": "\(error)"])
            }
            telemetryError = "\(error)"
            telemetryFailures += 1
            pendingWindows = windows + pendingWindows
            pendingRaised = raised + pendingRaised
            Self.dropOldest(beyond: Self.pendingLimit, of: &pendingWindows)
            Self.dropOldest(beyond: Self.pendingLimit, of: &pendingRaised)
        }
        writeInFlight = nil
        if telemetryError == nil { writePending() }  // what the loop added meanwhile
    }

    /// Keeps the newest `limit` items, counting what it drops (`clubd_pending_dropped_total`).
    private static func dropOldest<T>(beyond limit: Int, of items: inout [T]) {
        let excess = items.count - limit
        guard excess > 0 else { return }
        Counter(label: "clubd_pending_dropped_total").increment(by: Int64(excess))
        items.removeFirst(excess)
    }

    /// Retries what the store refused while no batch arrives (the runtime's ticker calls it).
    private func retryPending() {
        guard telemetryError != nil else { return }
        writePending()
    }

    private func markJournaled(_ seq: Int64) {
        guard seq > journalPosition else { return }
        journalAhead.insert(seq)
        while journalAhead.remove(journalPosition + 1) != nil { journalPosition += 1 }
    }

    /// Publishes refusals on `rejected` and counts them by reason.
    public func publishRejections(_ rejections: [Rejection], source: String) async {
        guard !rejections.isEmpty else { return }
        var messages: [Publisher.Message] = []
        for rejection in rejections {
            Counter(label: "clubd_rejected_total", dimensions: [("reason", rejection.reason.code)]).increment()
            let payload = RejectedPayload(
                code: rejection.reason.code, message: rejection.message, source: source, index: rejection.index,
                excerpt: rejection.excerpt)
            messages.append(Publisher.Message(topic: "rejected", members: payload.members))
        }
        await publisher.publish(messages)
    }

    /// Every part's state between two batches. The window operators and the record tracker
    /// hand over the entries of what changed since the last snapshot (encoded on the loop, in
    /// proportion to the change), or, when a part must be written whole, a copy-on-write copy
    /// whose entries are encoded off the loop (``save(_:)``), as the other parts are.
    private struct CapturedSnapshot: Sendable {
        typealias Stage = (definition: PipelineDefinition, stage: WindowStage, capture: CapturedEntries)
        var publisher: [UInt8]
        var records: RecordStage.Captured
        var attendance: AttendanceDetector
        var together: TogetherDetector
        var stages: [Stage]
        /// The history's batches to write with the snapshot, and its state after them.
        var history: HistoryStage.Captured?
        var journalPosition: Int64
        var takenAt: Int64
        var generation: Int64
    }

    /// Snapshots captured since start: the stages' unsaved entries are confirmed by it.
    private var snapshotGeneration: Int64 = 0

    private func captureSnapshot() async -> CapturedSnapshot {
        snapshotGeneration += 1
        var stageStates: [CapturedSnapshot.Stage] = []
        for stage in stages {
            stageStates.append((stage.definition, stage, await stage.capture(generation: snapshotGeneration)))
        }
        let detected = await detectors.state
        return CapturedSnapshot(
            publisher: await publisher.snapshot(), records: await recordStage.capture(generation: snapshotGeneration), attendance: detected.attendance, together: detected.together, stages: stageStates,
            history: await history?.seal(generation: snapshotGeneration), journalPosition: journalPosition, takenAt: Clock.nowMillis(),
            generation: snapshotGeneration)
    }

    /// Encodes and stores a captured snapshot. Saves run one after another, in capture order.
    private nonisolated func save(_ captured: CapturedSnapshot) async throws -> StateSnapshot {
        let start = DispatchTime.now()
        var parts: [String: [UInt8]] = [
            "publisher": captured.publisher,
            Self.attendancePart: [UInt8]((try? JSONEncoder().encode(captured.attendance)) ?? Data()),
            Self.togetherPart: [UInt8]((try? JSONEncoder().encode(captured.together)) ?? Data()),
        ]
        parts[RecordStage.part] = captured.records.meta
        var entries = [RecordStage.sessionsPart: captured.records.sessions.entryChanges, RecordStage.bestsPart: captured.records.bests.entryChanges]
        for stage in captured.stages {
            let part = Self.stagePart(stage.definition)
            parts[part.spec] = Self.snapshotPrefix(of: stage.definition)
            entries[part.entries] = stage.capture.entryChanges
        }
        if let history = captured.history {
            parts[HistoryStage.snapshotPart] = history.meta
            entries[HistoryStage.minutesPart] = history.minutes.entryChanges
        }
        let snapshot = StateSnapshot(parts: parts, entries: entries, journalPosition: captured.journalPosition, takenAt: captured.takenAt)
        let batches = captured.history?.batches ?? []
        try await store.save(snapshot, history: batches)
        for stage in captured.stages { await stage.stage.confirmSaved(through: captured.generation) }
        await recordStage.confirmSaved(through: captured.generation)
        await history?.confirm(through: batches.last?.generation, snapshot: captured.generation)
        snapshotTimer.recordInterval(since: start)
        snapshotBytes.record(snapshot.byteCount)
        await noteSaved(snapshot)
        return snapshot
    }

    private func noteSaved(_ snapshot: StateSnapshot) {
        lastSnapshotAt = snapshot.takenAt
    }

    private func replace(_ definitions: [PipelineDefinition]) async -> [String] {
        var changes: [String] = []
        var next: [WindowStage] = []
        for definition in definitions {
            if let existing = stages.first(where: { $0.definition == definition }) {
                next.append(existing)
            } else {
                do {
                    next.append(try WindowStage(definition: definition))
                    changes.append(stages.contains { $0.definition.name == definition.name } ? "changed \(definition.name)" : "added \(definition.name)")
                } catch {
                    changes.append("failed \(definition.name): \(error)")
                }
            }
        }
        for stage in stages where !definitions.contains(where: { $0.name == stage.definition.name }) {
            changes.append("removed \(stage.definition.name)")
        }
        stages = next
        if let history {
            historySourceIndex = Self.historySource(stages, await history.settings)
            await history.shareMinutes(historySourceIndex != nil)
        }
        return changes
    }

    // MARK: Requests from the command socket and the daemon

    /// Makes an acknowledged `submit` durable in one transaction (its telemetry in the
    /// journal, its other events in the activity log), then queues the samples.
    /// - Parameter payload: the samples as JSON, for replay from the journal.
    /// - Returns: what became of each event (new, a duplicate id, refused without consent).
    /// - Throws: when the store fails, or `CancellationError` when the daemon is shutting down.
    public nonisolated func submit(
        _ samples: [TelemetrySample], payload: [UInt8], events: [ClubEvent], receivedAt: Int64
    ) async throws -> [AppendOutcome] {
        let written = try await store.appendSubmission(
            journal: samples.isEmpty ? nil : payload, events: events.map { Self.record($0, receivedAt: receivedAt) },
            receivedAt: receivedAt)
        if written.appended.contains(.new) { notifyLogConsumers() }
        if let seq = written.journalSeq, !inbox.putUnbounded(.submitted(samples, journalSeq: seq)) { throw CancellationError() }
        return written.appended
    }

    /// A user's bonus points, as far as the bonus stage has processed the log.
    public func balance(of user: String) async -> Int { await bonus.balance(of: user) }

    /// Applies new bonus rules to events not processed yet.
    public func reloadBonusRules(_ rules: BonusRules) async { await bonus.reload(rules) }

    /// Applies new leaderboard declarations and a new catalogue to events not processed yet.
    public func reloadTraining(_ config: TrainingConfig) async {
        catalogue.withLock { $0 = config.catalogue }
        await training.reload(config)
    }

    /// Forgets a user's workouts imported from `system`: deleted from the activity log, and
    /// an `imports.deleted` event makes the training and offer stages drop them.
    /// - Returns: how many workout events were deleted from the log.
    public nonisolated func forgetImports(user: String, system: String) async throws -> Int {
        let now = Clock.nowMillis()
        var w = JSONWriter()
        w.member("user", user)
        w.member("system", system)
        let notice = ActivityEvent.raised(
            "imports.deleted", id: "forget:\(user):\(system):\(now)", user: user, at: now, members: w.bytes)
        let deleted = try await store.forgetImports(user: user, system: system, notice: notice, receivedAt: now)
        notifyLogConsumers()
        return deleted
    }

    /// A user's workouts as far as the training stage has applied the log.
    public func workouts(of user: String, from: Int64, to: Int64) async -> [(workout: Workout, counted: Bool)] {
        await training.workouts(of: user, from: from, to: to)
    }

    /// How far the training stage has come: its log offset.
    public func trainingProgress() async -> Int64 { await training.offset }

    /// Applies new offer rules to events not processed yet.
    public func reloadOffers(_ rules: OfferRules) async {
        await offers.reload(rules)
        await Self.handOffers(offerHandOff, from: training, to: offers)
    }

    /// Tells the training stage what to hand the offer stage: the types its rules read.
    private static func handOffers(_ handOff: OfferHandOff, from training: TrainingStage, to offers: OfferStage) async {
        await training.handOn(to: handOff, types: await offers.types ?? [], triggers: await offers.triggers)
    }

    /// The members of each offer valid now for `user`: targeted, for their region, general.
    public func validOffers(for user: String) async throws -> [[UInt8]] {
        try await store.validOffers(user: user, region: await training.region(of: user), now: Clock.nowMillis(), limit: 500)
    }

    /// What `rules` would have issued over the recorded log since `since`; issues nothing.
    public nonisolated func previewOffers(_ rules: OfferRules, since: Int64, now: Int64) async throws -> OfferPreview {
        try await offers.preview(rules, since: since, now: now)
    }

    /// The offer stage's committed log offset.
    public func offersProgress() async -> Int64 { await offers.offset }

    /// The `leaderboard` reply, from the standings as of the training stage's last refresh.
    public nonisolated func leaderboard(
        board: String, period: String?, scope: String?, user: String?
    ) throws(CommandError) -> LeaderboardReply {
        try training.index.query(board: board, period: period, scope: scope, user: user)
    }

    /// How far the bonus stage has come: its committed log offset and events applied since start.
    public func bonusProgress() async -> (offset: Int64, processed: Int) {
        (await bonus.offset, await bonus.processed)
    }

    /// Names under which the activity log's consumers other than the ledger commit their offsets.
    public static let logConsumers = [ActivityFeed.consumerName, TrainingStage.consumerName, CommunityStage.consumerName]

    /// Whether every part makes progress or has nothing to do, for the systemd watchdog: the
    /// pipeline loop finished an item within `window` or its inbox is empty, and each log
    /// consumer is caught up or was active (a step, or a retry) within `window`. A stage that
    /// retries after a storage error counts as live: it resumes by itself, a restart would not
    /// help; a stage stuck inside a step does not.
    public func isLive(within window: Duration) -> Bool {
        let millis = window.components.seconds * 1000 + window.components.attoseconds / 1_000_000_000_000_000
        let now = Clock.nowMillis()
        guard inbox.depth == 0 || now - lastProgressAt < millis else { return false }
        return runners.allSatisfy { runner in
            let status = runner.status
            return status.lag == 0 || now - status.lastActiveAt < millis
        }
    }

    /// Every stage's state: the log consumers and the telemetry pipelines' loop.
    public func stageStatuses() async -> [(name: String, status: StageStatus)] {
        let telemetry = StageStatus(
            offset: journalPosition, lag: Int64(inbox.depth), state: telemetryError == nil ? .running : .retrying,
            lastError: telemetryError, failures: telemetryFailures, lastActiveAt: lastProgressAt)
        return [("telemetry", telemetry)] + runners.map { ($0.name, $0.status) }
    }

    /// Stops the log consumers after their current round; call after ``run()`` returned.
    public func stopLogConsumers() async {
        // The training stage first: its last commit waits for the offer stage to commit as far.
        logSignals.training.finish()
        if let training = runners.firstIndex(where: { $0.name == TrainingStage.consumerName }) { await consumerTasks[training].value }
        logSignals.finishAll()
        for task in consumerTasks.dropLast() { await task.value }
        consumerTasks.last?.cancel()
        retentionTask?.cancel()
        await retentionTask?.value
        clockTask?.cancel()
    }

    /// Takes a snapshot between two batches.
    @discardableResult
    public nonisolated func snapshot() async throws -> StateSnapshot {
        try await withCheckedThrowingContinuation { continuation in
            if !inbox.putUnbounded(.snapshot(continuation)) {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Replaces the running pipelines between two batches.
    public nonisolated func reload(_ definitions: [PipelineDefinition]) async -> [String] {
        await withCheckedContinuation { continuation in
            if !inbox.putUnbounded(.reload(definitions, continuation)) { continuation.resume(returning: ["shutting down"]) }
        }
    }

    /// The snapshot taken at shutdown, once ``run()`` has returned and nothing else runs.
    public func finalSnapshot() async throws -> StateSnapshot {
        await flushPending()
        await pendingSave?.value
        return try await save(captureSnapshot())
    }

    /// Closes the publish socket after the loop ended.
    public func close() async { await publisher.close() }

    /// Open and correctable windows of `user` in every pipeline.
    public func currentWindows(of user: String) async -> [WindowRecord] {
        var result: [WindowRecord] = []
        for stage in stages { result += await stage.currentWindows(of: user) }
        return result
    }

    /// Figures for `health`.
    public func status() async -> (
        users: Int, openWindows: Int, inboxDepth: Int, journalPosition: Int64, lastSnapshotAt: Int64, pipelines: [String],
        processed: Int
    ) {
        var users = 0
        var windows = 0
        for stage in stages {
            let size = await stage.stateSize
            users = max(users, size.users)
            windows += size.windows
        }
        return (users, windows, inbox.depth, journalPosition, lastSnapshotAt, stages.map(\.definition.name), processedCount)
    }

    /// Decodes a `submit`'s events with the ingest decoder's limits, as `sender` may send them
    /// (nil: open mode), and checks them against the definitions as ingest does (``screen(_:)``).
    public nonisolated func decode(_ frame: [UInt8], now: Int64, sender: Principal? = nil) -> DecodedEvents {
        var decoded = DecodedEvents()
        decoder.decode(frame: frame, now: now, sender: sender, into: &decoded)
        screen(&decoded)
        return decoded
    }
}
