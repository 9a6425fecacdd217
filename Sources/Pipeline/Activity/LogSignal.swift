/// Wakes a consumer of the activity log when entries were appended (or a timer ticks).
/// Signals coalesce: many appends while the consumer works wake it once.
final class LogSignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func notify() { continuation.yield() }

    /// Ends ``waits``: the consumer's loop finishes after its current round.
    func finish() { continuation.finish() }

    /// One element per wake-up, ending after ``finish()``.
    var waits: AsyncStream<Void> { stream }
}

/// A consumer of the activity log with its own committed offset.
protocol LogConsumer: Actor {
    /// Processes everything after its offset, committing as it goes.
    func drain() async
    /// Called once after the last drain, before the daemon stops.
    func close() async
}

extension LogConsumer {
    /// Drains at start and after every wake-up until the signal finishes. After a wake-up it
    /// lets appends gather for `coalescing`, so that under load one transaction (one fsync)
    /// covers many events instead of contending with `submit` for the writer once per append.
    func run(signal: LogSignal, coalescing: Duration = .milliseconds(20)) async {
        await drain()
        for await _ in signal.waits {
            try? await Task.sleep(for: coalescing)
            await drain()
        }
        await close()
    }

    func close() async {}
}

/// The wake-up signals of the log's consumers.
final class LogSignals: Sendable {
    let bonus = LogSignal()
    let feed = LogSignal()
    let training = LogSignal()
    let offers = LogSignal()

    private var all: [LogSignal] { [bonus, feed, training, offers] }

    /// The log grew: wakes every consumer.
    func notifyAll() { all.forEach { $0.notify() } }

    /// Time passed: wakes the consumers with work that falls due without new events
    /// (expiries, coalesced publications, period ends, campaigns).
    func tick() { [bonus, training, offers].forEach { $0.notify() } }

    func finishAll() { all.forEach { $0.finish() } }
}
