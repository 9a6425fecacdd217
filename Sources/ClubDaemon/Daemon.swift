import Dispatch
import Foundation
import JSON
import Logging
import Metrics
import Pipeline
import Prometheus
import Storage
import Synchronization
import ZMQ

/// The club daemon: binds the sockets, restores state, runs the pipelines, snapshots
/// periodically, reloads on SIGHUP and shuts down cleanly on SIGTERM/SIGINT.
///
/// Shutdown order: stop ingest → drain the pipeline → final snapshot → stop the command
/// socket → close the publisher. Ingest stops first, the store is written last.
public final class Daemon: Sendable {
    /// Endpoints actually bound, for tests that bind wildcard ports.
    public struct Endpoints: Sendable {
        public let ingest: String
        public let command: String
        public let publish: String
    }

    private let config: ClubConfig
    private let logger: Logger
    private let stopRequest = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let stopped = Mutex(false)

    /// The Prometheus registry shared by every daemon of this process (metrics can be
    /// bootstrapped only once).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    public init(config: ClubConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// Runs until ``stop()`` or a termination signal.
    /// - Parameters:
    ///   - handleSignals: install SIGTERM/SIGINT/SIGHUP handlers (the executable does; tests don't).
    ///   - onReady: called once sockets are bound and state is restored.
    public func run(handleSignals: Bool = true, onReady: @Sendable (Endpoints) -> Void = { _ in }) async throws {
        _ = Self.registry
        let notifier = SystemdNotifier()
        let programme = try config.loadProgramme()
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let store = try ClubStore(path: (config.stateDirectory as NSString).appendingPathComponent("clubd.sqlite"))
        let context = ZMQContext()
        let runtime = try await PipelineRuntime(
            context: context, options: config.runtimeOptions, pipelines: programme.pipelines, bonusRules: programme.bonusRules,
            training: programme.training, offerRules: programme.offerRules, store: store, logger: logger)
        let config = self.config
        let logger = self.logger
        let reload: @Sendable () async -> [UInt8] = {
            await Self.reload(runtime: runtime, config: config, notifier: notifier, logger: logger)
        }
        let handler = CommandHandler(
            runtime: runtime, store: store, startedAt: Clock.nowMillis(),
            reloadPipelines: reload)
        let realtime = config.commandRealtimePriority > 0 ? Int32(config.commandRealtimePriority) : nil
        let commands = try CommandServer(
            endpoint: config.commandEndpoint, maxMessageBytes: config.maxMessageBytes, maxRequestBytes: config.maxFrameBytes,
            realtimePriority: realtime, handler: handler, logger: logger)
        if let realtime, commands.realtimePriority == nil {
            logger.notice(
                "command socket keeps normal scheduling: real-time priority refused (needs CAP_SYS_NICE or LimitRTPRIO)",
                metadata: ["priority": "\(realtime)"])
        }
        var metrics: MetricsServer?
        if !config.metricsListen.isEmpty {
            metrics = try MetricsServer(listen: config.metricsListen, registry: Self.registry, logger: logger)
            metrics?.start()
        }
        try await runtime.start()
        commands.start()
        let loop = Task { await runtime.run() }
        let signals = handleSignals ? SignalWatcher(signals: [SIGTERM, SIGINT, SIGHUP]) : nil
        let endpoints = Endpoints(ingest: runtime.ingestEndpoint, command: commands.boundEndpoint, publish: runtime.publishEndpoint)
        logger.info(
            "clubd ready",
            metadata: ["ingest": "\(endpoints.ingest)", "command": "\(endpoints.command)", "publish": "\(endpoints.publish)",
                "programme": "\(programme.summary)"])
        notifier.notify("READY=1\nSTATUS=serving")
        onReady(endpoints)

        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await Self.snapshotPeriodically(runtime, every: config.snapshotIntervalMillis, logger: logger) }
                group.addTask { await Self.pruneActivityLog(store, keeping: config.activityRetentionMillis, logger: logger) }
                if !config.importDropDirectory.isEmpty {
                    let drop = DropFolder(
                        folder: URL(fileURLWithPath: config.importDropDirectory), importer: WorkoutImporter(runtime: runtime), logger: logger)
                    group.addTask {
                        while !Task.isCancelled {
                            await drop.scan()
                            try? await Task.sleep(for: .milliseconds(config.importScanIntervalMillis))
                        }
                    }
                }
                if let interval = notifier.watchdogInterval {
                    group.addTask { await Self.pingWatchdog(runtime, every: interval, notifier: notifier) }
                }
                if let signals {
                    group.addTask {
                        for await signal in signals.stream {
                            if signal == SIGHUP {
                                _ = await reload()
                            } else {
                                logger.info("shutting down", metadata: ["signal": "\(signal)"])
                                self.stop()
                            }
                        }
                    }
                }
            }
        }
        await withCheckedContinuation { continuation in
            let alreadyStopped = stopped.withLock { stopped in
                if stopped { return true }
                stopRequest.withLock { $0 = continuation }
                return false
            }
            if alreadyStopped { continuation.resume() }
        }

        notifier.notify("STOPPING=1")
        runtime.stopIngest()
        await loop.value
        await runtime.stopLogConsumers()
        background.cancel()
        signals?.cancel()
        do {
            let snapshot = try await runtime.finalSnapshot()
            logger.info("final snapshot saved", metadata: ["bytes": "\(snapshot.byteCount)"])
        } catch {
            logger.error("final snapshot failed", metadata: ["error": "\(error)"])
        }
        commands.stop()
        metrics?.stop()
        await runtime.close()
        _ = await background.result
    }

    /// Asks ``run(handleSignals:onReady:)`` to shut down.
    public func stop() {
        let continuation = stopped.withLock { stopped -> CheckedContinuation<Void, Never>? in
            stopped = true
            return stopRequest.withLock { c in
                defer { c = nil }
                return c
            }
        }
        continuation?.resume()
    }

    private static func snapshotPeriodically(_ runtime: PipelineRuntime, every millis: Int64, logger: Logger) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(millis))
            if Task.isCancelled { return }
            do {
                try await runtime.snapshot()
            } catch is CancellationError {
                return
            } catch {
                logger.error("snapshot failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Pings the systemd watchdog only while the pipeline loop makes progress or is idle
    /// with an empty inbox; a stuck loop stops the pings and systemd restarts the daemon.
    private static func pingWatchdog(_ runtime: PipelineRuntime, every interval: Duration, notifier: SystemdNotifier) async {
        while !Task.isCancelled {
            let status = await runtime.status()
            let progressAge = Clock.nowMillis() - (await runtime.lastProgressAt)
            if status.inboxDepth == 0 || progressAge < 2 * interval.components.seconds * 1000 {
                notifier.notify("WATCHDOG=1")
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Deletes activity log entries past the retention that every consumer has passed, hourly.
    private static func pruneActivityLog(_ store: ClubStore, keeping retention: Int64, logger: Logger) async {
        while !Task.isCancelled {
            do {
                let deleted = try await store.pruneActivity(
                    receivedBefore: Clock.nowMillis() - retention, consumers: PipelineRuntime.logConsumers)
                if deleted > 0 { logger.info("activity log pruned", metadata: ["deleted": "\(deleted)"]) }
            } catch {
                logger.error("activity log pruning failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// Reloads pipelines, leaderboards, bonus and offer rules. Everything is validated first;
    /// on any error the running definitions all stay and the reply lists the errors.
    static func reload(runtime: PipelineRuntime, config: ClubConfig, notifier: SystemdNotifier, logger: Logger) async -> [UInt8] {
        notifier.notify("RELOADING=1")
        defer { notifier.notify("READY=1") }
        do {
            let programme = try config.loadProgramme()
            let changes = await runtime.reload(programme.pipelines)
            await runtime.reloadBonusRules(programme.bonusRules)
            await runtime.reloadTraining(programme.training)
            await runtime.reloadOffers(programme.offerRules)
            logger.info("definitions reloaded", metadata: ["changes": "\(changes)", "summary": "\(programme.summary)"])
            var w = JSONWriter()
            w.beginObject()
            w.member("ok", true)
            w.key("reloaded")
            w.beginArray()
            for change in changes { w.value(change) }
            w.value("bonus rules: \(programme.bonusRules.rules.count)")
            w.value("leaderboards: \(programme.training.boards.count)")
            w.value("offer rules: \(programme.offerRules.rules.count)")
            w.endArray()
            w.endObject()
            return w.bytes
        } catch {
            logger.error("reload refused; the running definitions stay", metadata: ["errors": "\(error)"])
            return CommandReply.error("invalid_definitions", "\(error)")
        }
    }
}
