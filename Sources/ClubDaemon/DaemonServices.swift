import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// A part of the daemon that starts with one call and stops with another: started when the
/// service group runs it, stopped when the group's graceful shutdown reaches it (in reverse
/// order of start), or when the group is cancelled.
struct StartStopService: Service, CustomStringConvertible {
    let description: String
    let start: @Sendable () async throws -> Void
    let stop: @Sendable () async -> Void

    init(_ name: String, start: @escaping @Sendable () async throws -> Void, stop: @escaping @Sendable () async -> Void) {
        description = name
        self.start = start
        self.stop = stop
    }

    func run() async throws {
        try await start()
        // Returns at graceful shutdown; throws when the group is cancelled: stop either way.
        try? await gracefulShutdown()
        await stop()
    }
}

/// Work repeated every `interval` until graceful shutdown (snapshots, log pruning, the drop
/// folder, watchdog pings). A round under way when shutdown comes is cancelled.
struct PeriodicService: Service, CustomStringConvertible {
    let description: String
    let interval: Duration
    /// Runs once before the first wait instead of after it.
    let immediately: Bool
    let body: @Sendable () async -> Void

    init(_ name: String, every interval: Duration, immediately: Bool = false, body: @escaping @Sendable () async -> Void) {
        description = name
        self.interval = interval
        self.immediately = immediately
        self.body = body
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            if immediately { await body() }
            while !Task.isCancelled {
                // Cancelled (at shutdown) while it waits: the loop ends.
                guard (try? await Task.sleep(for: interval)) != nil else { return }
                await body()
            }
        }
    }
}

/// Reloads the definitions on every SIGHUP until graceful shutdown.
struct ReloadOnHangupService: Service, CustomStringConvertible {
    let description = "reload on SIGHUP"
    let reload: @Sendable () async -> Void

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups { await reload() }
        }
    }
}

/// Bounds the shutdown: armed when graceful shutdown begins (it is the last service, so the
/// first to hear of it), it ends the process after `timeout` if the orderly shutdown has not
/// finished by then. Everything acknowledged is durable before it is acknowledged, so what a
/// forced exit leaves undone is work a restart resumes from the stages' committed offsets.
struct ShutdownDeadlineService: Service, CustomStringConvertible {
    let description = "shutdown deadline"
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let (timeout, logger) = (timeout, logger)
        let thread = Thread {
            Thread.sleep(forTimeInterval: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
            logger.critical("shutdown did not finish within shutdown.timeout; exiting now", metadata: ["timeout": "\(timeout)"])
            exit(1)
        }
        thread.name = "clubd-shutdown-deadline"
        thread.start()
    }
}
