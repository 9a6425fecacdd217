import Logging
import Metrics
import Synchronization

/// How a stage is doing, as `health` reports it under `stages`.
public struct StageStatus: Sendable, Equatable {
    /// `running` (working or waiting for work), `retrying` (its last step failed; it retries
    /// with back-off), `stalled` (a step has gone on longer than the policy's `stallAfter`:
    /// storage not answering — it goes on by itself when it does) or `stopped` (the daemon is
    /// shutting down).
    public enum State: String, Sendable {
        case running, retrying, stalled, stopped
    }

    /// Every log entry up to here has been applied.
    public var offset: Int64
    /// Log entries after ``offset``.
    public var lag: Int64
    public var state: State
    /// The last failure, kept after the stage recovered (nil while it never failed).
    public var lastError: String?
    /// Failed steps since start.
    public var failures: Int
    /// When the stage last finished a step, retried or found nothing to do (epoch ms).
    public var lastActiveAt: Int64

    public init(offset: Int64, lag: Int64, state: State, lastError: String?, failures: Int, lastActiveAt: Int64) {
        self.offset = offset
        self.lag = lag
        self.state = state
        self.lastError = lastError
        self.failures = failures
        self.lastActiveAt = lastActiveAt
    }
}

/// Drives one ``LogConsumer``: drains the log when signalled, retries a failed step with
/// exponential back-off (never skipping or repeating an entry, never spinning), reports the
/// stage's state, and stops when its signal finishes — at once when it is waiting to retry.
///
/// Written once for every consumer, so the bonus, training and offer stages and the activity
/// feed share one failure policy: the lesson of a full disk, after which a stage that
/// re-read its state and tried again at full speed never recovered and a shutdown hung.
public final class StageRunner: Sendable {
    /// Back-off after a failed step: doubling from `initialBackoff` up to `maximumBackoff`.
    public struct Policy: Sendable {
        public var initialBackoff: Duration = .milliseconds(50)
        public var maximumBackoff: Duration = .seconds(2)
        /// After a wake-up, how long appends may gather before the drain, so that under load
        /// one transaction (one fsync) covers many events.
        public var coalescing: Duration = .milliseconds(20)
        /// A step going on longer than this is reported `stalled` (a server gone away leaves a
        /// step waiting for a connection instead of failing it).
        public var stallAfter: Duration = .seconds(15)

        public init(
            initialBackoff: Duration = .milliseconds(50), maximumBackoff: Duration = .seconds(2), coalescing: Duration = .milliseconds(20),
            stallAfter: Duration = .seconds(15)
        ) {
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.coalescing = coalescing
            self.stallAfter = stallAfter
        }
    }

    public let name: String
    private let consumer: any LogConsumer
    private let log: any ActivityLogReading
    private let signal: LogSignal
    private let policy: Policy
    private let logger: Logger
    private let state: Mutex<StageStatus>
    private let lagGauge: Gauge
    private let stateGauge: Gauge
    private let failureCounter: Counter

    public init(consumer: any LogConsumer, log: any ActivityLogReading, signal: LogSignal, policy: Policy = Policy(), logger: Logger) async {
        name = consumer.name
        self.consumer = consumer
        self.log = log
        self.signal = signal
        self.policy = policy
        self.logger = logger
        let offset = await consumer.offset
        state = Mutex(
            StageStatus(
                offset: offset, lag: max(0, log.newestActivityOffset - offset), state: .running, lastError: nil, failures: 0,
                lastActiveAt: Clock.nowMillis()))
        lagGauge = Gauge(label: "clubd_stage_lag", dimensions: [("stage", consumer.name)])
        stateGauge = Gauge(label: "clubd_stage_retrying", dimensions: [("stage", consumer.name)])
        failureCounter = Counter(label: "clubd_stage_failures_total", dimensions: [("stage", consumer.name)])
    }

    /// When the step under way started (epoch ms), or nil between steps.
    private let stepStartedAt = Mutex<Int64?>(nil)

    /// The stage's state now, its lag measured against the log's newest entry; `stalled`
    /// while a step has gone on longer than the policy allows.
    public var status: StageStatus {
        var s = state.withLock { $0 }
        s.lag = max(0, log.newestActivityOffset - s.offset)
        if s.state == .running, let started = stepStartedAt.withLock({ $0 }) {
            let waited = Clock.nowMillis() - started
            if Duration.milliseconds(waited) > policy.stallAfter {
                s.state = .stalled
                s.lastError = "a step has gone on for \(waited / 1000) s: storage not answering?"
            }
        }
        return s
    }

    /// Drains at start and after every wake-up until the signal finishes, then closes the
    /// consumer. A failed step is retried after a back-off until it succeeds or the signal
    /// finishes; while it fails the stage reports `retrying`.
    public func run() async {
        var needsRecovery = false
        var backoff = policy.initialBackoff
        var wakeUps = signal.waits.makeAsyncIterator()
        while true {
            do {
                if needsRecovery {
                    try await consumer.recover()
                    needsRecovery = false
                }
                try await drain()
                if state.withLock({ $0.state }) == .retrying {
                    logger.notice("stage recovered", metadata: ["stage": "\(name)"])
                }
                update { $0.state = .running }
                backoff = policy.initialBackoff
            } catch {
                needsRecovery = true
                let first = update { s in
                    defer {
                        s.state = .retrying
                        s.lastError = "\(error)"
                        s.failures += 1
                    }
                    return s.state != .retrying
                }
                failureCounter.increment()
                if first {
                    logger.error("stage step failed; retrying with back-off", metadata: ["stage": "\(name)", "error": "\(error)"])
                }
                guard await pause(backoff) else { break }
                backoff = min(backoff * 2, policy.maximumBackoff)
                continue
            }
            guard await wakeUps.next() != nil else { break }
            try? await Task.sleep(for: policy.coalescing)
        }
        if !needsRecovery {
            do { try await consumer.close() } catch {
                logger.error("stage could not save its last state; it resumes from its last commit", metadata: ["stage": "\(name)", "error": "\(error)"])
            }
        }
        update { $0.state = .stopped }
    }

    /// Drains once before ``run()`` starts (a stage others need caught up at start-up).
    /// - Throws: what the consumer's step threw; ``run()`` retries it.
    public func catchUp() async throws { try await drain() }

    /// Everything after the consumer's offset, in steps of its batch limit, then its due work.
    private func drain() async throws {
        stepStartedAt.withLock { $0 = Clock.nowMillis() }
        defer { stepStartedAt.withLock { $0 = nil } }
        while let batch = try await read() {
            try await consumer.apply(batch.records, upTo: batch.through)
            let offset = await consumer.offset
            update { $0.offset = offset }
            stepStartedAt.withLock { $0 = Clock.nowMillis() }  // a long catch-up is many steps, not one stall
        }
        try await consumer.due()
        let offset = await consumer.offset
        update { $0.offset = offset }
    }

    /// The next entries for the consumer (of its types, if it names them) and how far they
    /// reach; nil when the log holds nothing after its offset.
    private func read() async throws -> ActivityBatch? {
        let offset = await consumer.offset
        guard let types = await consumer.types else {
            let records = try await log.activity(after: offset, limit: consumer.batchLimit)
            return records.last.map { ActivityBatch(records: records, through: $0.offset) }
        }
        let batch = try await log.activity(after: offset, limit: consumer.batchLimit, types: types)
        return batch.through > offset ? batch : nil
    }

    /// Sleeps `duration` in short slices; false as soon as the signal finished (shutdown).
    private func pause(_ duration: Duration) async -> Bool {
        let slice = Duration.milliseconds(25)
        var left = duration
        while left > .zero {
            if signal.isFinished { return false }
            try? await Task.sleep(for: min(slice, left))
            left -= slice
        }
        return !signal.isFinished
    }

    @discardableResult
    private func update<T>(_ change: (inout StageStatus) -> T) -> T {
        let (result, status) = state.withLock { s in
            let result = change(&s)
            s.lastActiveAt = Clock.nowMillis()
            return (result, s)
        }
        lagGauge.record(max(0, log.newestActivityOffset - status.offset))
        stateGauge.record(status.state == .retrying ? 1 : 0)
        return result
    }
}
