import ClubKernel
import ClubProtocol
import ClubRuntime
import CommandSocket
import Community
import Dispatch
import Events
import Foundation
import JSON
import Logging
import Metrics
import Pipeline
import PostgresStorage
import Prometheus
import ServiceLifecycle
import Storage
import Synchronization
import UnixSignals
import Users
import ZMQ

/// The club daemon: binds the sockets, restores state, then runs every part as a service of
/// one `ServiceGroup` until SIGTERM or SIGINT: periodic snapshots, log pruning, the drop
/// folder, reload on SIGHUP, systemd notify and watchdog, the metrics endpoint.
///
/// Services start in this order and shut down in the reverse one, each after the one before
/// has finished: the shutdown deadline is armed, systemd hears STOPPING, ingest stops taking
/// frames, the command socket stops, the pipeline loop processes what it received and takes
/// the final snapshot, the log's consumers finish their round, and the publish socket closes
/// last. The whole shutdown is bounded by `shutdown.timeout`, even while a stage is retrying.
public final class Daemon: Sendable {
    private let config: ClubConfig
    private let logger: Logger
    private let group = Mutex<ServiceGroup?>(nil)
    /// Asked to stop while standing by (before the service group runs).
    private let standbyStopped = Mutex(false)

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

    /// Runs until SIGTERM, SIGINT or ``stop()``.
    /// - Throws: when a socket cannot bind, the state cannot be restored or a service fails.
    public func run() async throws {
        _ = Self.registry
        let notifier = SystemdNotifier()
        let programme = try config.loadProgramme()
        try config.checkSecurity()
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let principals = config.security.configuredPrincipals
        let devices = DevicesGate(reservedKeys: Set(principals.keys))
        guard case .postgres(let url) = config.storage.engine else {
            return try await serve(programme: programme, principals: principals, devices: devices, lease: nil, notifier: notifier)
        }
        guard let lease = try await standBy(url, notifier: notifier) else { return }  // asked to stop first
        // The definitions as they are now: they may have changed while this instance stood by.
        var current = programme
        do { current = try config.loadProgramme() } catch {
            logger.error("definitions changed while standing by are invalid; the ones checked at start-up run", metadata: ["errors": "\(error)"])
        }
        do {
            try await serve(programme: current, principals: principals, devices: devices, lease: lease, notifier: notifier)
        } catch {
            // Failed before or while serving: the lease goes at once, not when it runs out.
            await lease.release()
            lease.close()
            throw error
        }
    }

    /// Restores the state and runs every service until shutdown (holding `lease`, on PostgreSQL).
    private func serve(
        programme: ClubConfig.Programme, principals: [String: Events.Principal], devices: DevicesGate, lease: LeaseKeeper?,
        notifier: SystemdNotifier
    ) async throws {
        let store = try await Self.openStorage(
            config, gate: AdmissionGates([CommunityGate(config: config.community), devices]), lease: lease, logger: logger)
        let context = ZMQContext()
        var options = config.runtimeOptions
        // curve: the ZAP handlers (one per ZeroMQ context) bind before any CURVE socket does.
        var zapHandlers: [ZAPHandler] = []
        let directory = KeyDirectory(configured: principals, devices: devices)
        let decide: ZAPHandler.Decide = { domain, key in
            switch directory.admission(key: key, subscribing: domain == "publish") {
            case .success: nil
            case .failure(let refusal): refusal.rawValue
            }
        }
        if config.security.mode == .curve {
            guard CurveKeys.isAvailable else { throw SecurityError("security.mode curve: this libzmq was built without CURVE (libsodium)") }
            options.curve = CurveServer(secretKey: try config.security.secretKey(), principal: { directory.principal(forKey: $0) })
            zapHandlers.append(try ZAPHandler(context: context, logger: logger, decide: decide))
        }
        zapHandlers.forEach { $0.start() }
        let runtime = try await PipelineRuntime(
            context: context, options: options, pipelines: programme.pipelines, bonusRules: programme.bonusRules,
            training: programme.training, offerRules: programme.offerRules, community: config.community, store: store, logger: logger)
        let config = self.config
        let logger = self.logger
        let reload: @Sendable () async -> [UInt8] = {
            await Self.reload(runtime: runtime, config: config, notifier: notifier, logger: logger)
        }
        let handler = CommandHandler(
            runtime: runtime, store: store, startedAt: Clock.nowMillis(), maxRequestBytes: config.maxFrameBytes,
            maxImportFileBytes: config.maxImportFileBytes, devices: devices, lease: lease,
            reloadPipelines: reload)
        let realtime = config.commandRealtimePriority > 0 ? Int32(config.commandRealtimePriority) : nil
        let commands = try CommandServer(
            endpoint: config.commandEndpoint, maxMessageBytes: max(config.maxMessageBytes, handler.maxImportRequestBytes),
            realtimePriority: realtime, curve: options.curve,
            authenticator: { context in
                let zap = try ZAPHandler(context: context, logger: logger, decide: decide)
                zap.start()
                zapHandlers.append(zap)
            },
            handler: handler, logger: logger)
        let authenticators = zapHandlers
        if let realtime, commands.realtimePriority == nil {
            logger.notice(
                "command socket keeps normal scheduling: real-time priority refused (needs CAP_SYS_NICE or LimitRTPRIO)",
                metadata: ["priority": "\(realtime)"])
        }
        let metrics = config.metricsListen.isEmpty
            ? nil : try MetricsServer(listen: config.metricsListen, registry: Self.registry, logger: logger)
        try await runtime.replayJournal()

        var services: [any Service] = []
        if let lease {
            // Renewed until everything else has stopped: the final commits are fenced by it.
            services.append(LeaseService(lease: lease, logger: logger))
        }
        services += [
            // The very last to stop: every stage has committed by then.
            StartStopService("storage", start: {}, stop: { await store.close() }),
            // Last to stop: handshakes are answered until every socket has closed.
            StartStopService("authentication", start: {}, stop: { authenticators.forEach { $0.stop() } }),
            StartStopService("publisher", start: {}, stop: { await runtime.close() }),
            StartStopService("log stages", start: { await runtime.startLogConsumers() }, stop: { await runtime.stopLogConsumers() }),
            PipelineLoopService(runtime: runtime, logger: logger),
            PeriodicService("snapshots", every: .milliseconds(config.snapshotIntervalMillis)) {
                do { try await runtime.snapshot() } catch is CancellationError {} catch {
                    logger.error("snapshot failed", metadata: ["error": "\(error)"])
                }
            },
            PeriodicService("activity log pruning", every: .seconds(3600), immediately: true) {
                await Self.pruneActivityLog(store, keeping: config.activityRetentionMillis, logger: logger)
            },
            StartStopService("command socket", start: { commands.start() }, stop: { commands.stop() }),
        ]
        if let metrics {
            services.append(StartStopService("metrics", start: { metrics.start() }, stop: { metrics.stop() }))
        }
        if !config.importDropDirectory.isEmpty {
            let drop = DropFolder(
                folder: URL(fileURLWithPath: config.importDropDirectory), importer: WorkoutImporter(runtime: runtime, maxFileBytes: config.maxImportFileBytes), logger: logger)
            services.append(PeriodicService("drop folder", every: .milliseconds(config.importScanIntervalMillis), immediately: true) {
                await drop.scan()
            })
        }
        if let interval = notifier.watchdogInterval {
            services.append(PeriodicService("systemd watchdog", every: interval, immediately: true) {
                await Self.pingWatchdog(runtime, interval: interval, notifier: notifier)
            })
        }
        services += [
            ReloadOnHangupService { _ = await reload() },
            StartStopService("ingest", start: { runtime.startReceiving() }, stop: { runtime.stopReceiving() }),
            StartStopService(
                "systemd notify",
                start: {
                    logger.info(
                        "clubd ready",
                        metadata: ["ingest": "\(runtime.ingestEndpoint)", "command": "\(commands.boundEndpoint)",
                            "publish": "\(runtime.publishEndpoint)", "programme": "\(programme.summary)"])
                    notifier.notify("READY=1\nSTATUS=serving")
                },
                stop: {
                    logger.info("shutting down")
                    notifier.notify("STOPPING=1")
                }),
            ShutdownDeadlineService(timeout: .milliseconds(config.shutdownTimeoutMillis), logger: logger),
        ]
        var configuration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // The deadline service ends the process at the full timeout; the group gives up
        // waiting a little before and cancels what is left, so that an orderly end is tried
        // first. No cancellation limit of the group's own: past it ServiceLifecycle crashes the
        // process (SIGILL and a backtrace, seen when a million workouts' training state took
        // longer to save), where the deadline logs why and exits with status 1.
        configuration.maximumGracefulShutdownDuration = .milliseconds(max(config.shutdownTimeoutMillis * 8 / 10, 100))
        configuration.maximumCancellationDuration = nil
        let serviceGroup = ServiceGroup(configuration: configuration)
        group.withLock { $0 = serviceGroup }
        try await serviceGroup.run()
    }

    /// The storage engine `storage.engine` names: SQLite files in the state directory, or a
    /// PostgreSQL database.
    static func openStorage(_ config: ClubConfig, gate: any AdmissionGate, lease: LeaseKeeper?, logger: Logger) async throws -> any ClubStorage {
        switch config.storage.engine {
        case .sqlite:
            return try ClubStore(path: (config.stateDirectory as NSString).appendingPathComponent("clubd.sqlite"), gate: gate)
        case .postgres(let url):
            let store = try await PostgresStore(
                url: url, connections: config.storage.postgresPoolSize, gate: gate,
                connectTimeout: .milliseconds(config.storage.postgresConnectTimeoutMillis), logger: logger, lease: lease)
            logger.info("storage: PostgreSQL", metadata: ["url": "\(store.location)"])
            return store
        }
    }

    /// PostgreSQL: takes the database's work lease, standing by until it is free — relaying
    /// this instance's endpoints to the holder meanwhile (``StandbyRelay``; not in
    /// `security.mode curve`, where clients use the holder).
    /// - Returns: the lease, held; nil when asked to stop (SIGTERM, SIGINT, ``stop()``) first.
    private func standBy(_ url: PostgresURL, notifier: SystemdNotifier) async throws -> LeaseKeeper? {
        let host = config.storage.advertiseHost ?? ProcessInfo.processInfo.hostName
        let local = LeaseEndpoints(ingest: config.ingestEndpoint, command: config.commandEndpoint, publish: config.publishEndpoint)
        let advertised = LeaseEndpoints(
            ingest: Self.advertised(local.ingest, host: host), command: Self.advertised(local.command, host: host),
            publish: Self.advertised(local.publish, host: host))
        let keeper = try await LeaseKeeper(
            url: url, instance: config.storage.instance ?? "\(ProcessInfo.processInfo.hostName)/\(config.commandEndpoint)",
            duration: .seconds(config.storage.leaseSeconds), endpoints: advertised,
            connectTimeout: .milliseconds(config.storage.postgresConnectTimeoutMillis), logger: logger)
        let logger = self.logger
        let signals = Task {
            for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup) {
                if signal == .sighup {
                    // Not fatal (its default): the definitions are read when this instance takes the lease.
                    logger.notice("standby: nothing to reload; the definitions are read when this instance takes the lease")
                    continue
                }
                self.standbyStopped.withLock { $0 = true }
                return
            }
        }
        defer { signals.cancel() }
        var relay: StandbyRelay?
        defer { relay?.stop() }
        var announced: String?
        var lastHeartbeat = ContinuousClock.now - .seconds(1)
        while !standbyStopped.withLock({ $0 }) {
            var wait = Duration.seconds(1)
            do {
                if try await keeper.tryTake() {
                    keeper.startKeeping()  // now: restoring the state may take longer than the lease runs
                    return keeper  // the relay stops (deferred above) and frees the endpoints
                }
                if let holder = try await keeper.holder() {
                    if relay?.holder != holder.endpoints {
                        relay?.stop()
                        relay = nil
                        if config.security.mode != .curve {
                            do {
                                relay = try StandbyRelay(
                                    local: local, holder: holder.endpoints, maxCommandBytes: max(config.maxMessageBytes, CommandHandler.maxImportRequestBytes(config.maxImportFileBytes)),
                                    maxFrameBytes: config.maxFrameBytes, logger: logger)
                            } catch {
                                logger.error("standby: cannot relay to the holder; trying again", metadata: ["error": "\(error)"])
                            }
                        }
                    }
                    if announced != holder.instance {
                        announced = holder.instance
                        logger.notice("standby: another instance holds the database's lease", metadata: ["holder": "\(holder.instance)"])
                        notifier.notify("READY=1\nSTATUS=standby: \(holder.instance) holds the lease")
                    }
                    // Asked again just after the lease would expire (a holder renews it long before).
                    wait = min(max(holder.remaining + .milliseconds(20), .milliseconds(20)), .milliseconds(250))
                }
            } catch {
                logger.error("standby: the lease cannot be read; trying again", metadata: ["error": "\(error)"])
            }
            if notifier.watchdogInterval != nil { notifier.notify("WATCHDOG=1") }
            if ContinuousClock.now - lastHeartbeat >= .seconds(1) {
                try? await keeper.heartbeat(standby: true)
                lastHeartbeat = .now
            }
            try? await Task.sleep(for: wait)
        }
        await keeper.forget()
        keeper.close()
        return nil
    }

    /// `endpoint` as another host reaches it: a wildcard host (`*`, `0.0.0.0`, `[::]`) becomes `host`.
    public static func advertised(_ endpoint: String, host: String) -> String {
        for wildcard in ["tcp://*:", "tcp://0.0.0.0:", "tcp://[::]:"] where endpoint.hasPrefix(wildcard) {
            return "tcp://\(host):" + endpoint.dropFirst(wildcard.count)
        }
        return endpoint
    }

    /// Asks ``run()`` to shut down, as SIGTERM does.
    public func stop() {
        standbyStopped.withLock { $0 = true }
        let serviceGroup = group.withLock { $0 }
        Task { await serviceGroup?.triggerGracefulShutdown() }
    }

    /// Pings the systemd watchdog only while the pipeline loop and every stage make progress
    /// or are idle (``PipelineRuntime/isLive(within:)``); a stuck one stops the pings and
    /// systemd restarts the daemon.
    private static func pingWatchdog(_ runtime: PipelineRuntime, interval: Duration, notifier: SystemdNotifier) async {
        if await runtime.isLive(within: interval * 2) { notifier.notify("WATCHDOG=1") }
    }

    /// Deletes activity log entries past the retention that every consumer has passed.
    private static func pruneActivityLog(_ store: any ClubStorage, keeping retention: Int64, logger: Logger) async {
        do {
            let deleted = try await store.pruneActivity(
                receivedBefore: Clock.nowMillis() - retention, consumers: PipelineRuntime.logConsumers)
            if deleted > 0 { logger.info("activity log pruned", metadata: ["deleted": "\(deleted)"]) }
        } catch {
            logger.error("activity log pruning failed", metadata: ["error": "\(error)"])
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
            return ReloadReply(
                reloaded: changes + [
                    "bonus rules: \(programme.bonusRules.rules.count)", "leaderboards: \(programme.training.boards.count)",
                    "offer rules: \(programme.offerRules.rules.count)", programme.training.catalogue.summary,
                ]
            ).bytes
        } catch {
            logger.error("reload refused; the running definitions stay", metadata: ["errors": "\(error)"])
            return CommandError("invalid_definitions", "\(error)").reply
        }
    }
}

/// The pipeline loop as a service: runs until its turn in the shutdown closes the inbox, then
/// takes the final snapshot of the telemetry state.
struct PipelineLoopService: Service, CustomStringConvertible {
    let description = "pipeline loop"
    let runtime: PipelineRuntime
    let logger: Logger

    func run() async throws {
        // Its turn in the shutdown closes the inbox; so does a cancelled group.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await runtime.run()
            } onGracefulShutdown: {
                runtime.closeInbox()
            }
        } onCancel: {
            runtime.closeInbox()
        }
        do {
            let snapshot = try await runtime.finalSnapshot()
            logger.info("final snapshot saved", metadata: ["bytes": "\(snapshot.byteCount)"])
        } catch {
            logger.error("final snapshot failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Keeps the database's work lease (PostgreSQL) while the daemon runs; the first service, so
/// the last to stop: the lease is released after the final commits. A lease another instance
/// took ends the process (status 1): its work is the holder's now, and the service manager
/// restarts it as a standby.
struct LeaseService: Service, CustomStringConvertible {
    let description = "lease"
    let lease: LeaseKeeper
    let logger: Logger

    func run() async throws {
        // Renewing since the lease was taken (LeaseKeeper.startKeeping, before the restore).
        let end = await withTaskCancellationHandler {
            await withGracefulShutdownHandler { await lease.kept() } onGracefulShutdown: { lease.stopKeeping() }
        } onCancel: {
            lease.stopKeeping()
        }
        if end == .lost {
            logger.critical("lease lost to another instance; exiting (restarted, this instance stands by)")
            exit(1)
        }
        await lease.release()
        await lease.forget()
        lease.close()
    }
}

/// The security settings cannot be applied.
struct SecurityError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
