// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "clubd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "clubd", targets: ["clubd"]),
        .executable(name: "clubctl", targets: ["clubctl"]),
        .executable(name: "clubbench", targets: ["clubbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // libzmq, as the system provides it.
        .systemLibrary(name: "CZMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        // A thin Swift wrapper over libzmq: context, sockets, messages, poller, errors.
        .target(name: "ZMQ", dependencies: ["CZMQ"]),
        // A fast, fully validating JSON reader and a compact writer.
        .target(name: "JSON"),
        // The contract's events: decoding, validation, time, reason codes. Pure.
        .target(name: "Events", dependencies: ["JSON"]),
        // Event-time windows and aggregates of telemetry. Pure.
        .target(name: "Telemetry", dependencies: ["Events", "JSON"]),
        // Configuration files: YAML read key by key with errors located at file:line:column.
        .target(name: "Definitions", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The Activity subsystem: bonus rules, the points engine, caps, streaks, expiry. Pure.
        .target(name: "Activity", dependencies: ["Events", "JSON", "Definitions"]),
        // The Training subsystem: workouts and their duplicates, profiles, leaderboards. Pure.
        .target(
            name: "Training",
            dependencies: ["Events", "JSON", "Definitions", .product(name: "Histogram", package: "hdrhistogram-swift")]),
        // The Offers subsystem: marketers' rules, their condition language, caps and budgets. Pure.
        .target(name: "Offers", dependencies: ["Events", "JSON", "Definitions", "Activity", "Training"]),
        // Workout files from other systems: FIT, GPX and TCX decoders, workouts from them. Pure.
        .target(name: "Imports", dependencies: ["Events"]),
        // SQLite: journal of acknowledged events, snapshots, window history.
        .target(name: "Storage", dependencies: ["Activity", "Offers", "Imports", .product(name: "GRDB", package: "GRDB.swift")]),
        // Declarative pipelines and the actor runtime that runs them between ZeroMQ sockets.
        .target(
            name: "Pipeline",
            dependencies: [
                "ZMQ", "JSON", "Events", "Telemetry", "Storage", "Definitions", "Activity", "Training", "Offers", "Imports",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The daemon: configuration, command operations, services, systemd, metrics endpoint.
        .target(
            name: "ClubDaemon",
            dependencies: [
                "ZMQ", "JSON", "Events", "Telemetry", "Storage", "Definitions", "Activity", "Training", "Offers", "Imports", "Pipeline",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "clubd",
            dependencies: ["ClubDaemon", "Definitions", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The client side of the command socket: requests with the Lazy Pirate pattern.
        .target(name: "ClubClient", dependencies: ["ZMQ", "JSON"]),
        // A deterministic device fleet: GPS tracks, heart rate, sessions, network faults.
        .target(name: "Simulation"),
        .executableTarget(
            name: "clubctl",
            dependencies: [
                "ZMQ", "JSON", "ClubClient", "Simulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "clubbench",
            dependencies: [
                "ZMQ", "JSON", "Events", "Telemetry", "Storage", "Pipeline", "ClubClient", "ClubTestKit", "Simulation", "Imports",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Test helpers for definition files: located mistakes, mutated texts.
        .target(name: "DefinitionTesting", dependencies: ["Definitions"]),
        // Helpers shared by tests and the benchmark: daemon processes, sockets, stream generators.
        .target(name: "ClubTestKit", dependencies: ["ZMQ", "JSON", "ClubDaemon", "Simulation"]),

        .testTarget(name: "ZMQTests", dependencies: ["ZMQ"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "EventsTests", dependencies: ["Events", "JSON"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "Events"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Definitions", "DefinitionTesting", "Storage", "Activity", "ZMQ", "ClubTestKit", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ActivityTests", dependencies: ["Activity", "Definitions", "DefinitionTesting", "Events", "JSON"]),
        .testTarget(name: "OffersTests", dependencies: ["Offers", "Activity", "Definitions", "DefinitionTesting", "JSON"]),
        .testTarget(name: "ImportsTests", dependencies: ["Imports", "ClubTestKit"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Definitions", "JSON"]),
        .testTarget(name: "ClubDaemonTests", dependencies: ["ClubDaemon", "ClubTestKit", "ClubClient", "Simulation", "Storage", "Activity", "Imports", "ZMQ", "clubd", "clubctl"]),
    ]
)
