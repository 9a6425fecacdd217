import Dispatch
import Foundation

/// Turns POSIX signals into an async stream (signals are ignored by default handling
/// while the watcher lives).
final class SignalWatcher: @unchecked Sendable {
    // @unchecked: both properties are set once in init; dispatch sources are thread-safe.
    let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
