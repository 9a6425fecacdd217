// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "clubd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "clubd", targets: ["clubd"]),
        .executable(name: "clubctl", targets: ["clubctl"]),
        .executable(name: "clubbench", targets: ["clubbench"]),
        .executable(name: "club-shop-adapter", targets: ["club-shop-adapter"]),
        .executable(name: "club-shop-simulator", targets: ["club-shop-simulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The HTTP server of club-shop-simulator, the shop the adapter's tests (and demos) talk to.
        .package(url: "https://github.com/swhitty/FlyingFox.git", from: "0.27.1"),
        // The PostgreSQL engine's client (storage.engine: postgres).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // postgres-nio's own: byte buffers and TLS (sslmode in storage.postgres.url).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // libzmq, as the system provides it.
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        // A thin Swift wrapper over libzmq: context, sockets, messages, poller, errors.
        .target(name: "ZMQ", dependencies: ["CZMQ"]),
        // glibc's allocator statistics and trimming (mallinfo2, malloc_trim).
        .systemLibrary(name: "CMalloc"),
        // A fast, fully validating JSON reader and a compact writer.
        .target(name: "JSON"),
        // What every subsystem shares: the activity event (one type for a log entry), event
        // time, local calendars, reason codes. Pure.
        .target(name: "ClubKernel", dependencies: ["JSON"]),
        // The contract's events: decoding and validation of what devices and clients send. Pure.
        .target(name: "Events", dependencies: ["ClubKernel", "JSON"]),
        // Event-time windows and aggregates of telemetry. Pure.
        .target(name: "Telemetry", dependencies: ["ClubKernel", "Events", "JSON"]),
        // The command socket's contract: op names, typed replies and error codes, written with the
        // JSON writer and read back by clients; shared by clubd and clubctl.
        .target(name: "ClubProtocol", dependencies: ["JSON", "ClubKernel", "Events"]),
        // Configuration files: YAML read key by key with errors located at file:line:column.
        .target(name: "Definitions", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The User subsystem: what the club knows of a member without personal data — consent
        // to import from external systems (connections), devices, the keys they hold, and the
        // telemetry history (raw samples, minute and day rollups). Pure.
        .target(name: "Users", dependencies: ["ClubKernel", "Events", "Telemetry"]),
        // The bonus programme of the Activity subsystem: rules, the points engine, caps, streaks,
        // expiry. Pure.
        .target(name: "Bonus", dependencies: ["ClubKernel", "Events", "JSON", "Definitions"]),
        // The Training subsystem: workouts and their duplicates, profiles, leaderboards. Pure.
        .target(name: "Training", dependencies: ["ClubKernel", "Events", "JSON", "Definitions"]),
        // The Community subsystem: groups, sessions with attendance detected from telemetry,
        // discussions; the log's admission gate for them. Pure.
        .target(name: "Community", dependencies: ["ClubKernel", "Events", "JSON"]),
        // The Offers subsystem: marketers' rules, their condition language, caps and budgets. Pure.
        .target(name: "Offers", dependencies: ["ClubKernel", "Events", "JSON", "Definitions", "Bonus", "Training"]),
        // Workout files from other systems: FIT, GPX and TCX decoders, workouts from them. Pure.
        .target(name: "Imports", dependencies: ["ClubKernel", "Events"]),
        // SQLite: the activity log, journal of acknowledged telemetry, snapshots, window history,
        // ledger, offers — the store protocols the stages declare, implemented with GRDB.
        .target(
            name: "Storage",
            dependencies: [
                "ClubKernel", "ClubRuntime", "Users", "Bonus", "Offers", "Telemetry", "Pipeline", .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // PostgreSQL: the same store protocols on a server that several instances share
        // (storage.engine: postgres), through postgres-nio.
        .target(
            name: "PostgresStorage",
            dependencies: [
                "ClubKernel", "ClubRuntime", "Events", "Users", "Bonus", "Offers", "Telemetry", "Pipeline", "JSON",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The runtime: threads and executors, the bounded inbox, the ingest receiver, the
        // publisher, and the stage protocol with the runner that drives every log consumer.
        .target(
            name: "ClubRuntime",
            dependencies: [
                "ZMQ", "JSON", "ClubKernel", "Events", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The command transport: the ROUTER socket on its own thread, requests handed to a handler.
        .target(
            name: "CommandSocket",
            dependencies: ["ZMQ", "JSON", "ClubProtocol", "ClubRuntime", "Events", .product(name: "Logging", package: "swift-log")]),
        // The pipelines: their definitions, the stages (telemetry windows, records, bonus,
        // training, offers, activity feed), the stores they declare, and the wiring of them.
        .target(
            name: "Pipeline",
            dependencies: [
                "ZMQ", "JSON", "ClubKernel", "ClubProtocol", "ClubRuntime", "Events", "Telemetry", "Definitions", "Users", "Bonus",
                "Training", "Offers", "Imports", "Community",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The daemon: configuration, command operations, services, systemd, metrics endpoint.
        .target(
            name: "ClubDaemon",
            dependencies: [
                "ZMQ", "JSON", "ClubKernel", "ClubProtocol", "ClubRuntime", "CommandSocket", "Events", "Telemetry", "Storage",
                "PostgresStorage", "Definitions", "Users", "Bonus", "Training", "Offers", "Imports", "Pipeline", "Community",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "clubd",
            dependencies: ["ClubDaemon", "Definitions", "PostgresStorage", "ZMQ", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The client side of the command socket: requests with the Lazy Pirate pattern.
        .target(name: "ClubClient", dependencies: ["ZMQ", "JSON"]),
        // A deterministic device fleet: GPS tracks, heart rate, sessions, network faults.
        .target(name: "Simulation"),
        // The shop adapter: its own process between the shop's HTTP API and clubd's sockets.
        .target(
            name: "ShopAdapter",
            dependencies: [
                "ClubClient", "ClubProtocol", "JSON", "ZMQ", "Definitions", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "club-shop-adapter",
            dependencies: [
                "ShopAdapter", "Definitions", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "clubctl",
            dependencies: [
                "ZMQ", "JSON", "ClubClient", "ClubProtocol", "Simulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "clubbench",
            dependencies: [
                "ZMQ", "JSON", "ClubKernel", "ClubRuntime", "Events", "Telemetry", "Storage", "Pipeline", "ClubClient", "ClubTestKit",
                "Simulation", "Imports", "PostgresStorage", "Users", "CMalloc",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Test helpers for definition files: located mistakes, mutated texts.
        .target(name: "DefinitionTesting", dependencies: ["Definitions"]),
        // Helpers shared by tests and the benchmark: daemon processes, sockets, stream generators.
        .target(
            name: "ClubTestKit",
            dependencies: [
                "ZMQ", "JSON", "ClubDaemon", "Simulation", "Storage", "PostgresStorage", "Pipeline", .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "ZMQTests", dependencies: ["ZMQ"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "ClubProtocolTests", dependencies: ["ClubProtocol", "JSON"]),
        .testTarget(name: "ClubKernelTests", dependencies: ["ClubKernel", "JSON"]),
        .testTarget(name: "EventsTests", dependencies: ["ClubKernel", "Events", "JSON"]),
        .testTarget(name: "TelemetryTests", dependencies: ["ClubKernel", "Telemetry", "Events"]),
        .testTarget(
            name: "PostgresStorageTests",
            dependencies: ["PostgresStorage", "Storage", "Pipeline", "ClubTestKit", "ClubKernel", "ClubRuntime", "Users", "Events", "Bonus", "Offers", "Telemetry", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "ClubKernel", "Users", "Events", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Definitions", "DefinitionTesting", "Storage", "ClubKernel", "ClubRuntime", "Bonus", "Offers", "Training", "ZMQ", "ClubTestKit", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "BonusTests", dependencies: ["Bonus", "ClubKernel", "Definitions", "DefinitionTesting", "Events", "JSON"]),
        .testTarget(name: "OffersTests", dependencies: ["Offers", "ClubKernel", "Bonus", "Definitions", "DefinitionTesting", "JSON"]),
        .testTarget(name: "ImportsTests", dependencies: ["Imports", "ClubTestKit"]),
        .executableTarget(
            name: "club-shop-simulator",
            dependencies: [
                "JSON", .product(name: "FlyingFox", package: "FlyingFox"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(
            name: "ShopAdapterTests",
            dependencies: ["ShopAdapter", "ClubTestKit", "JSON", "Definitions", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "UsersTests", dependencies: ["Users", "ClubKernel", "Events", "JSON", "Telemetry"]),
        .testTarget(name: "CommunityTests", dependencies: ["Community", "ClubKernel", "Events", "JSON"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "ClubKernel", "Definitions", "DefinitionTesting", "JSON"]),
        .testTarget(name: "ClubDaemonTests", dependencies: ["ClubDaemon", "ClubTestKit", "ClubClient", "Simulation", "Storage", "ClubKernel", "Bonus", "Imports", "Telemetry", "ZMQ", "clubd", "clubctl", "PostgresStorage", .product(name: "GRDB", package: "GRDB.swift")]),
    ]
)
