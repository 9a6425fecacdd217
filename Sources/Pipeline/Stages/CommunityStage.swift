import ClubKernel
import ClubRuntime
import Community
import Foundation
import Logging
import Metrics

/// The Community subsystem's consumer of the activity log: groups, sessions, discussions and
/// attendance as the read model its ops answer from, the `session.attended` events that
/// check-ins raise, and the schedule it hands the attendance detector on the telemetry loop.
///
/// Every client event in the log was admitted by the community's gate (in log order, with
/// the same engine), so the stage applies what the gate decided; an event the engine refuses
/// here is one from before the gate (a log of an older version) and changes nothing.
///
/// Its state is a pure function of the log, committed with its offset at most every
/// ``commitInterval`` and at shutdown; after `kill -9` it re-applies the entries after the
/// committed offset, and what they raise again has the same ids (duplicates in the log).
actor CommunityStage: LogConsumer {
    static let consumerName = "community"
    nonisolated var name: String { Self.consumerName }
    nonisolated let batchLimit = 500
    private let executor = DispatchQueueExecutor(label: "clubd-community")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let store: any ConsumerStateStore
    private let logger: Logger
    private let raise: @Sendable ([ActivityEvent]) async throws -> Void
    let config: CommunityConfig
    /// Where the attendance detector reads the sessions to watch.
    nonisolated let board: ScheduleBoard
    private(set) var state = CommunityState()
    private(set) var offset: Int64 = 0
    private var committedOffset: Int64 = 0
    private var committedAt = Clock.nowMillis()
    /// Raised events not yet appended (the append failed, or is due with the next step).
    private var pendingRaised: [ActivityEvent] = []
    private var scheduleStale = true
    private var scheduledAt: Int64 = 0
    private let ignored = Counter(label: "clubd_community_ignored_total")

    /// Milliseconds between two commits of the state.
    static let commitInterval: Int64 = 5_000

    init(
        store: any ConsumerStateStore, config: CommunityConfig, logger: Logger,
        raise: @escaping @Sendable ([ActivityEvent]) async throws -> Void
    ) async throws {
        self.store = store
        self.config = config
        self.logger = logger
        self.raise = raise
        board = ScheduleBoard()
        if let saved = try await store.consumerState(Self.consumerName) {
            do {
                state = try JSONDecoder().decode(CommunityState.self, from: Data(saved.state))
                offset = saved.offset
                committedOffset = saved.offset
            } catch {
                // A state this version cannot read: the state is a function of the log, so it
                // is rebuilt from the log's start (the community's own events are never pruned).
                logger.warning("community state unreadable; rebuilding it from the activity log", metadata: ["error": "\(error)"])
            }
        }
        refreshSchedule(force: true)
    }

    /// The types this stage reads (the runner hands it only these); the rest of the log passes by unread.
    static let readTypes = CommunityState.clientTypes.union(CommunityState.raisedTypes).union(["profile"])
    var types: Set<String>? { Self.readTypes }

    func apply(_ records: [ActivityEvent], upTo newOffset: Int64) async throws {
        for record in records {
            do throws(CommunityState.Refusal) {
                let applied = try state.apply(record, config: config)
                pendingRaised += applied.raised
                if applied.scheduleChanged { scheduleStale = true }
            } catch {
                ignored.increment()
                logger.debug("community event not applied", metadata: ["event": "\(record.id)", "reason": "\(error.reason.code)"])
            }
        }
        offset = newOffset
        try await handOn()
        refreshSchedule()
    }

    /// Runs `body` on the state, on the stage.
    func read<T: Sendable>(_ body: @Sendable (borrowing CommunityState) -> T) -> T { body(state) }

    private func handOn() async throws {
        guard !pendingRaised.isEmpty else { return }
        try await raise(pendingRaised)
        pendingRaised = []
    }

    func recover() async throws { try await handOn() }

    func due() async throws {
        try await handOn()
        refreshSchedule()
        if Clock.nowMillis() - committedAt >= Self.commitInterval { try await commit() }
    }

    func close() async throws { try await commit() }

    /// Hands the detector a new schedule when sessions or members changed, and once a minute
    /// (sessions leave it a while after their end).
    private func refreshSchedule(force: Bool = false) {
        let now = Clock.nowMillis()
        guard force || scheduleStale || now - scheduledAt >= 60_000 else { return }
        board.publish(SessionSchedule(state, now: now, config: config))
        scheduleStale = false
        scheduledAt = now
    }

    private func commit() async throws {
        try await handOn()
        guard offset != committedOffset else { return }
        let blob = try JSONEncoder().encode(state)
        try await store.commitConsumer(Self.consumerName, offset: offset, state: [UInt8](blob))
        committedOffset = offset
        committedAt = Clock.nowMillis()
    }
}
