import Synchronization

/// Wakes a consumer of the activity log when entries were appended (or a timer ticks).
/// Signals coalesce: many appends while the consumer works wake it once.
public final class LogSignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let finished = Atomic(false)

    public init() {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    public func notify() { continuation.yield() }

    /// Ends ``waits``: the consumer's loop finishes after its current round.
    public func finish() {
        finished.store(true, ordering: .releasing)
        continuation.finish()
    }

    /// Whether ``finish()`` was called: a consumer waiting to retry stops waiting.
    public var isFinished: Bool { finished.load(ordering: .acquiring) }

    /// One element per wake-up, ending after ``finish()``.
    public var waits: AsyncStream<Void> { stream }
}
