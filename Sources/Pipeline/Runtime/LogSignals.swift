import ClubRuntime

/// The wake-up signals of the log's consumers.
final class LogSignals: Sendable {
    let bonus = LogSignal()
    let feed = LogSignal()
    let training = LogSignal()
    let offers = LogSignal()
    let community = LogSignal()

    private var all: [LogSignal] { [bonus, feed, training, offers, community] }

    /// The log grew: wakes every consumer.
    func notifyAll() { all.forEach { $0.notify() } }

    /// Time passed: wakes the consumers with work that falls due without new events
    /// (expiries, coalesced publications, period ends, campaigns).
    func tick() { [bonus, training, offers, community].forEach { $0.notify() } }

    func finishAll() { all.forEach { $0.finish() } }
}
