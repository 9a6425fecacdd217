import ArgumentParser
import Definitions
import Foundation
import Logging
import ServiceLifecycle
import ShopAdapter

/// `club-shop-adapter`: brings the shop's member profiles and consent into the club, and the
/// club's offers and points into the shop (docs/user.md).
@main
struct ClubShopAdapter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "club-shop-adapter",
        abstract: "The club's adapter to the shop: profiles and consent in, offers and ledger entries out, exactly once.")

    @Option(help: "Configuration file (YAML); see config/shop-adapter.yaml for every key and its default.") var config: String?
    @Flag(help: "Validate the configuration, print what is wrong and exit.") var checkConfig = false

    func run() async throws {
        let settings: ShopAdapterConfig
        do {
            settings = try config.map(ShopAdapterConfig.load(path:)) ?? ShopAdapterConfig()
        } catch let errors as DefinitionErrors {
            FileHandle.standardError.write(Data("club-shop-adapter: invalid configuration:\n\(errors)\n".utf8))
            throw ExitCode(78)
        }
        if checkConfig {
            print("configuration OK; shop \(settings.shopURL), clubd \(settings.clubCommand)")
            return
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "club-shop-adapter")
        let adapter = try ShopAdapter(config: settings, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: AdapterService(adapter: adapter))], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("club-shop-adapter running", metadata: ["shop": "\(settings.shopURL)", "clubd": "\(settings.clubCommand)"])
        try await group.run()
    }
}

/// The adapter's loops as a service: SIGTERM cancels them between deliveries (positions are
/// durable after each acknowledged one).
struct AdapterService: Service {
    let adapter: ShopAdapter
    func run() async throws {
        try await cancelWhenGracefulShutdown { await adapter.run() }
    }
}
