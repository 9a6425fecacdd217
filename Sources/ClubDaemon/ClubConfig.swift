import Bonus
import Community
import Definitions
import Foundation
import Offers
import PostgresStorage
import Pipeline
import Training
import Users
import Yams

/// The daemon's settings. Every key, its default and its meaning are listed in
/// `config/clubd.yaml`; with no file the defaults below apply.
public struct ClubConfig: Sendable, DefinitionFile {
    public var ingestEndpoint = "tcp://127.0.0.1:7001"
    public var commandEndpoint = "tcp://127.0.0.1:7002"
    public var publishEndpoint = "tcp://127.0.0.1:7003"
    /// Endpoints on which the publisher's batch channel also takes batches from stages in other
    /// processes (`ipc://` or `tcp://`); none by default.
    public var publishChannelEndpoints: [String] = []
    /// `SCHED_FIFO` priority of the command socket's threads (1…99); 0 keeps normal scheduling.
    public var commandRealtimePriority = 10
    /// Largest frame accepted on ingest and command; larger ones are refused with `frame_too_large`.
    public var maxFrameBytes = 1 << 20
    /// Largest message libzmq accepts at all (ZMQ_MAXMSGSIZE); a larger one drops the connection.
    public var maxMessageBytes = 16 << 20
    public var maxBatchEvents = 10_000
    public var maxJSONDepth = 32
    public var maxFutureMillis: Int64 = 300_000
    /// Frames libzmq queues on the ingest socket (its only unit) before senders block.
    public var receiveHighWaterMark = 1_000
    public var sendHighWaterMark = 100_000
    public var inboxBatches = 64
    /// Bytes of received frames waiting, decoded, between the ingest socket and the pipeline.
    public var inboxBytes = 8 << 20
    public var stateDirectory = "./var"
    /// `storage.*`: which engine keeps the state (SQLite files in ``stateDirectory``, or PostgreSQL).
    public var storage = StorageSettings()
    public var snapshotIntervalMillis: Int64 = 10_000
    public var pipelinesDirectory = "./Pipelines"
    /// `host:port` of the Prometheus listener; empty disables it.
    public var metricsListen = ""
    public var logLevel = "info"
    /// The bonus programme's YAML file; empty runs the embedded default programme.
    public var bonusRulesFile = ""
    /// Directory of the training catalogue's *.yaml files (exercises, programmes); nil uses
    /// ``defaultCatalogueDirectory`` when it exists and an empty catalogue otherwise.
    public var catalogueDirectory: String?
    public static let defaultCatalogueDirectory = "./config/training"
    /// How long past a step's day + 1 the daemon's clock waits before missing it.
    public var missedGraceMillis: Int64 = 7 * 86_400_000
    /// The Community subsystem's settings (`community.*`).
    public var community = CommunityConfig()
    /// Directory of offer rule files (*.yaml); empty runs no offer rules.
    public var offerRulesDirectory = ""
    /// Folder of workout files to import (`<system>/<user>/<file>`); empty disables it.
    public var importDropDirectory = ""
    public var importScanIntervalMillis: Int64 = 5_000
    /// Largest workout file accepted by `import` and the drop folder.
    public var maxImportFileBytes = 64 << 20
    /// How long a shutdown may take before the process ends regardless.
    public var shutdownTimeoutMillis: Int64 = 10_000
    /// Activity log entries older than this, once every consumer has passed them, are deleted.
    public var activityRetentionMillis: Int64 = 90 * 86_400_000
    /// Who may say what (`security.*`): open on loopback by default.
    public var security = SecurityConfig()
    /// `history.enabled`: keep the telemetry history (raw samples, minute and day rollups).
    public var historyEnabled = true
    /// `history.*`: retentions (`samples_for`, `minutes_for`, `days_for`; `forever` keeps) and
    /// the minutes' lateness.
    public var history = HistorySettings()
    /// `history.retention_interval`: how often expired history is deleted.
    public var historyRetentionIntervalMillis: Int64 = 60_000

    public init() {}

    /// What the daemon runs, as this configuration names it: the pipelines and the
    /// leaderboards of the pipelines directory (read once), and the bonus rules.
    public struct Programme: Sendable {
        public let pipelines: [PipelineDefinition]
        public let training: TrainingConfig
        public let bonusRules: BonusRules
        public let offerRules: OfferRules

        /// One line for logs and `--check-config`.
        public var summary: String {
            "pipelines: \(pipelines.map(\.name).joined(separator: ", ")); bonus rules: \(bonusRules.rules.count); "
                + "leaderboards: \(training.boards.count); offer rules: \(offerRules.rules.count); \(training.catalogue.summary)"
        }
    }

    /// Reads and validates everything the daemon runs, at start-up and on reload.
    /// - Throws: ``DefinitionErrors`` locating every mistake of every file.
    public func loadProgramme() throws -> Programme {
        var errors: [DefinitionError] = []
        func collect<T>(_ load: () throws -> T) throws -> T? {
            do { return try load() } catch let e as DefinitionErrors {
                errors += e.errors
                return nil
            }
        }
        let files = try collect { try PipelineLoader.read(directory: pipelinesDirectory) }
        let pipelines = try files.flatMap { files in try collect { try PipelineLoader.load(files: files) } }
        var training = try files.flatMap { files in try collect { try TrainingConfig.load(files: files) } }
        let catalogue = try collect { () throws -> Catalogue in
            if let catalogueDirectory { return try Catalogue.load(directory: catalogueDirectory) }
            guard DefinitionDirectory.exists(Self.defaultCatalogueDirectory) else { return Catalogue() }
            return try Catalogue.load(directory: Self.defaultCatalogueDirectory)
        }
        if let catalogue { training?.catalogue = catalogue }
        training?.missedGraceMillis = missedGraceMillis
        let bonusRules = try collect {
            bonusRulesFile.isEmpty
                ? try BonusRules.parse(BonusRules.embeddedDefault, file: "<embedded bonus rules>")
                : try BonusRules.load(path: bonusRulesFile)
        }
        let offerRules = try collect { offerRulesDirectory.isEmpty ? OfferRules([]) : try OfferRules.load(directory: offerRulesDirectory) }
        guard let pipelines, let training, catalogue != nil, let bonusRules, let offerRules else { throw DefinitionErrors(errors) }
        return Programme(pipelines: pipelines, training: training, bonusRules: bonusRules, offerRules: offerRules)
    }

    public static let fileDescription = "configuration file"

    /// Reads the configuration, keeping defaults for absent keys.
    public static func parse(_ root: inout YAMLMapping) throws -> ClubConfig {
        var c = ClubConfig()
        if var m = root.nested("ingest") {
            c.ingestEndpoint = endpoint(&m, "endpoint", c.ingestEndpoint)
            c.maxFrameBytes = m.int("max_frame_bytes", default: c.maxFrameBytes, in: 64...(256 << 20))
            c.maxBatchEvents = m.int("max_batch_events", default: c.maxBatchEvents, in: 1...1_000_000)
            c.maxJSONDepth = m.int("max_json_depth", default: c.maxJSONDepth, in: 2...512)
            c.maxFutureMillis = m.duration("max_future", default: c.maxFutureMillis)
            c.receiveHighWaterMark = m.int("receive_hwm", default: c.receiveHighWaterMark, in: 0...100_000_000)
            c.inboxBatches = m.int("inbox_batches", default: c.inboxBatches, in: 1...100_000)
            c.inboxBytes = m.int("inbox_bytes", default: c.inboxBytes, in: (64 << 10)...(4 << 30))
            root.absorb(m)
        }
        if var m = root.nested("command") {
            c.commandEndpoint = endpoint(&m, "endpoint", c.commandEndpoint)
            c.commandRealtimePriority = m.int("realtime_priority", default: c.commandRealtimePriority, in: 0...99)
            root.absorb(m)
        }
        if var m = root.nested("publish") {
            c.publishEndpoint = endpoint(&m, "endpoint", c.publishEndpoint)
            c.publishChannelEndpoints =
                m.names("channel", expected: "ipc:// or tcp:// endpoints", valid: { $0.hasPrefix("ipc://") || $0.hasPrefix("tcp://") })
                ?? c.publishChannelEndpoints
            c.sendHighWaterMark = m.int("send_hwm", default: c.sendHighWaterMark, in: 0...100_000_000)
            root.absorb(m)
        }
        if var m = root.nested("zmq") {
            c.maxMessageBytes = m.int("max_message_bytes", default: c.maxMessageBytes, in: 64...(1 << 30))
            root.absorb(m)
        }
        if var m = root.nested("state") {
            c.stateDirectory = m.string("directory", default: c.stateDirectory) ?? c.stateDirectory
            c.snapshotIntervalMillis = m.duration("snapshot_interval", default: c.snapshotIntervalMillis, min: 100)
            root.absorb(m)
        }
        if var m = root.nested("storage") {
            c.storage = StorageSettings.parse(&m)
            root.absorb(m)
        }
        if var m = root.nested("pipelines") {
            c.pipelinesDirectory = m.string("directory", default: c.pipelinesDirectory) ?? c.pipelinesDirectory
            root.absorb(m)
        }
        if var m = root.nested("bonus") {
            c.bonusRulesFile = m.string("rules_file", default: c.bonusRulesFile) ?? ""
            root.absorb(m)
        }
        if var m = root.nested("imports") {
            c.importDropDirectory = m.string("drop_dir", default: c.importDropDirectory) ?? ""
            c.importScanIntervalMillis = m.duration("scan_interval", default: c.importScanIntervalMillis, min: 100)
            c.maxImportFileBytes = m.int("max_file_bytes", default: c.maxImportFileBytes, in: 1024...(512 << 20))
            root.absorb(m)
        }
        if var m = root.nested("training") {
            c.catalogueDirectory = m.string("catalogue_dir")
            c.missedGraceMillis = m.duration("missed_grace", default: c.missedGraceMillis, min: 0)
            root.absorb(m)
        }
        if var m = root.nested("community") {
            c.community.postsPerMinute = m.int("posts_per_minute", default: c.community.postsPerMinute, in: 1...10_000)
            c.community.attendanceGraceMillis = m.duration("attendance_grace", default: c.community.attendanceGraceMillis, min: 0)
            c.community.attendanceRetentionMillis = m.duration(
                "attendance_retention", default: c.community.attendanceRetentionMillis, min: 60_000)
            c.community.togetherEnabled = m.bool("together", default: c.community.togetherEnabled)
            c.community.togetherMeters = m.double("together_m", default: c.community.togetherMeters, in: 5...(TogetherDetector.cellMeters))
            c.community.togetherIdleMillis = m.duration("together_idle", default: c.community.togetherIdleMillis, min: 1_000)
            c.community.togetherLatenessMillis = m.duration("together_lateness", default: c.community.togetherLatenessMillis, min: 1_000)
            root.absorb(m)
        }
        if var m = root.nested("offers") {
            c.offerRulesDirectory = m.string("rules_dir", default: c.offerRulesDirectory) ?? ""
            root.absorb(m)
        }
        if var m = root.nested("shutdown") {
            c.shutdownTimeoutMillis = m.duration("timeout", default: c.shutdownTimeoutMillis, min: 500)
            root.absorb(m)
        }
        if var m = root.nested("activity") {
            c.activityRetentionMillis = m.duration("retention", default: c.activityRetentionMillis, min: 60_000)
            root.absorb(m)
        }
        if var m = root.nested("history") {
            c.historyEnabled = m.bool("enabled", default: c.historyEnabled)
            c.history.samplesFor = retention(&m, "samples_for", c.history.samplesFor)
            c.history.minutesFor = retention(&m, "minutes_for", c.history.minutesFor)
            c.history.daysFor = retention(&m, "days_for", c.history.daysFor)
            c.history.allowedLateness = m.duration("allowed_lateness", default: c.history.allowedLateness, min: 0)
            c.history.outOfOrderness = m.duration("out_of_orderness", default: c.history.outOfOrderness, min: 0)
            c.history.idleTimeout = m.duration("idle_timeout", default: c.history.idleTimeout, min: 1_000)
            c.historyRetentionIntervalMillis = m.duration("retention_interval", default: c.historyRetentionIntervalMillis, min: 100)
            root.absorb(m)
        }
        if var m = root.nested("metrics") {
            c.metricsListen = m.string("listen", default: c.metricsListen) ?? ""
            if !c.metricsListen.isEmpty, MetricsServer.parse(listen: c.metricsListen) == nil {
                m.fail("'listen' must be host:port with an IPv4 host, such as 127.0.0.1:9464", at: m.node("listen"))
            }
            root.absorb(m)
        }
        if var m = root.nested("security") {
            c.security = SecurityConfig.parse(&m)
            root.absorb(m)
        }
        if var m = root.nested("log") {
            c.logLevel = m.string("level", default: c.logLevel) ?? c.logLevel
            if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(c.logLevel) {
                m.fail("'level' must be one of trace, debug, info, notice, warning, error, critical", at: m.node("level"))
            }
            root.absorb(m)
        }
        if c.maxFrameBytes > c.maxMessageBytes {
            root.fail("ingest.max_frame_bytes (\(c.maxFrameBytes)) must not exceed zmq.max_message_bytes (\(c.maxMessageBytes))")
        }
        root.rejectUnknownKeys()
        guard root.errors.isEmpty else { throw DefinitionErrors(root.errors) }
        return c
    }

    /// A retention: a duration of at least a second, or `forever` (nil).
    private static func retention(_ m: inout YAMLMapping, _ key: String, _ fallback: Int64?) -> Int64? {
        guard let node = m.node(key) else { return fallback }
        if node.string == "forever" { return nil }
        return m.duration(key, default: fallback ?? 0, min: 1_000)
    }

    private static func endpoint(_ m: inout YAMLMapping, _ key: String, _ fallback: String) -> String {
        let value = m.string(key, default: fallback) ?? fallback
        if !(value.hasPrefix("tcp://") || value.hasPrefix("ipc://") || value.hasPrefix("inproc://")) {
            m.fail("'\(key)' must be a ZeroMQ endpoint such as tcp://127.0.0.1:7001 or ipc:///run/clubd/ingest", at: m.node(key))
        }
        return value
    }

    /// Options for the pipeline runtime.
    var runtimeOptions: PipelineRuntime.Options {
        var o = PipelineRuntime.Options()
        o.ingestEndpoint = ingestEndpoint
        o.publishEndpoint = publishEndpoint
        o.publishChannelEndpoints = publishChannelEndpoints
        o.receiveHighWaterMark = receiveHighWaterMark
        o.sendHighWaterMark = sendHighWaterMark
        o.maxMessageBytes = maxMessageBytes
        o.inboxBatches = inboxBatches
        o.inboxBytes = inboxBytes
        o.limits.maxFrameBytes = maxFrameBytes
        o.limits.maxBatchEvents = maxBatchEvents
        o.limits.maxDepth = maxJSONDepth
        o.limits.maxFutureMillis = maxFutureMillis
        o.history = historyEnabled ? history : nil
        o.historyRetentionInterval = .milliseconds(historyRetentionIntervalMillis)
        return o
    }
}

/// `storage.*`: the engine that keeps the daemon's state and its activity log.
public struct StorageSettings: Sendable, Equatable {
    public enum Engine: Sendable, Equatable {
        /// Files in `state.directory` (the embedded default).
        case sqlite
        /// A PostgreSQL database (`storage.postgres.url`).
        case postgres(PostgresURL)
    }

    public var engine = Engine.sqlite
    /// `storage.postgres.pool_size`: connections to PostgreSQL (the log's writer, the stages, the queries).
    public var postgresPoolSize = 8
    /// `storage.postgres.connect_timeout`: how long start-up waits for the server.
    public var postgresConnectTimeoutMillis: Int64 = 10_000
    /// `storage.lease_s`: how long the work lease runs without a renewal (PostgreSQL): a killed
    /// holder's work moves to a standby within it.
    public var leaseSeconds = 10
    /// `storage.instance`: this instance's name in the lease (default: the host's name and the
    /// command endpoint). A restarted instance takes its own lease back at once.
    public var instance: String?
    /// `storage.advertise`: the host standbys connect to for this instance's endpoints bound to
    /// a wildcard (`*`, `0.0.0.0`, `[::]`); default the host's name.
    public var advertiseHost: String?

    public init() {}

    static func parse(_ m: inout YAMLMapping) -> Self {
        var s = Self()
        if m.has("partitions") {
            m.fail(
                "'partitions': sharing the work by user partitions is not built yet; several instances on one database share it as one holder and standbys (storage.lease_s)",
                at: m.node("partitions"))
        }
        s.leaseSeconds = m.int("lease_s", default: s.leaseSeconds, in: 1...3_600)
        if let instance = m.string("instance") {
            if instance.isEmpty || instance.count > 200 || instance.contains(where: { $0.isWhitespace || $0.isNewline }) {
                m.fail("'instance' must be 1…200 characters without spaces", at: m.node("instance"))
            } else {
                s.instance = instance
            }
        }
        if let host = m.string("advertise") {
            if host.isEmpty || host.contains(where: { $0.isWhitespace || $0 == "/" }) {
                m.fail("'advertise' must be a host name or address, such as 10.0.0.5", at: m.node("advertise"))
            } else {
                s.advertiseHost = host
            }
        }
        var url: PostgresURL?
        var urlRefused = false  // reported where it is; not again as missing
        if var p = m.nested("postgres") {
            if let text = p.string("url") {
                do throws(PostgresURL.Invalid) {
                    url = try PostgresURL(text)
                } catch {
                    p.fail("'url': \(error)", at: p.node("url"))
                    urlRefused = true
                }
            }
            s.postgresPoolSize = p.int("pool_size", default: s.postgresPoolSize, in: 2...1_000)
            s.postgresConnectTimeoutMillis = p.duration("connect_timeout", default: s.postgresConnectTimeoutMillis, min: 100)
            m.absorb(p)
        }
        switch m.string("engine") {
        case nil, "sqlite": break  // a URL beside it is checked, and unused
        case "postgres":
            if let url {
                s.engine = .postgres(url)
            } else if !urlRefused {
                m.fail("'engine: postgres' needs postgres.url, such as postgresql://club@127.0.0.1:5432/club", at: m.node("engine"))
            }
        default: m.fail("'engine' must be sqlite or postgres", at: m.node("engine"))
        }
        return s
    }
}
