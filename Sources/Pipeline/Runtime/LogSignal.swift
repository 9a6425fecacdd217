import Synchronization

/// Wakes a consumer of the activity log when entries were appended (or a timer ticks).
/// Signals coalesce: many appends while the consumer works wake it once.
final class LogSignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let finished = Atomic(false)

    init() {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func notify() { continuation.yield() }

    /// Ends ``waits``: the consumer's loop finishes after its current round.
    func finish() {
        finished.store(true, ordering: .releasing)
        continuation.finish()
    }

    /// Whether ``finish()`` was called: a consumer waiting to retry stops waiting.
    var isFinished: Bool { finished.load(ordering: .acquiring) }

    /// One element per wake-up, ending after ``finish()``.
    var waits: AsyncStream<Void> { stream }
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
