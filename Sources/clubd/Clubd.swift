import Definitions
import ArgumentParser
import ClubDaemon
import PostgresStorage
import Foundation
import Logging
import ZMQ

/// `clubd`: the Interest Club stream-processing daemon.
@main
struct Clubd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clubd",
        abstract: "The Interest Club daemon: ZeroMQ telemetry in, event-time windows out, state in SQLite.",
        discussion: "Runs on embedded defaults without a configuration file. Flags override the file.")

    @Option(help: "Configuration file (YAML); see config/clubd.yaml for every key and its default.")
    var config: String?

    @Flag(help: "Validate the configuration and pipeline files, print what is wrong and exit.")
    var checkConfig = false

    @Flag(help: "Print the public key (Z85) of the daemon's security.secret_key_file, for its clients, and exit.")
    var printPublicKey = false

    @Option(help: "Ingest PULL endpoint (ingest.endpoint).") var ingest: String?
    @Option(help: "Command ROUTER endpoint (command.endpoint).") var command: String?
    @Option(help: "Publish PUB endpoint (publish.endpoint).") var publish: String?
    @Option(help: "State directory holding clubd.sqlite (state.directory).") var stateDir: String?
    @Option(help: "Directory of pipeline *.yaml files (pipelines.directory).") var pipelines: String?
    @Option(help: "Prometheus listener host:port, empty to disable (metrics.listen).") var metrics: String?
    @Option(help: "Log level (log.level).") var logLevel: String?
    @Option(help: "Bonus rules file; empty for the embedded programme (bonus.rules_file).") var bonusRules: String?
    @Option(help: "Directory of offer rule *.yaml files; empty for none (offers.rules_dir).") var offerRules: String?
    @Option(help: "Training catalogue directory of exercise and programme *.yaml files (training.catalogue_dir).") var catalogue: String?
    @Option(help: "Drop folder of workout files to import, <system>/<user>/<file>; empty for none (imports.drop_dir).") var dropDir: String?
    @Option(help: "Keep the state in this PostgreSQL database, a libpq URI (storage.engine postgres, storage.postgres.url).")
    var postgresUrl: String?

    func run() async throws {
        var settings: ClubConfig
        do {
            settings = try config.map(ClubConfig.load(path:)) ?? ClubConfig()
            if let ingest { settings.ingestEndpoint = ingest }
            if let command { settings.commandEndpoint = command }
            if let publish { settings.publishEndpoint = publish }
            if let stateDir { settings.stateDirectory = stateDir }
            if let pipelines { settings.pipelinesDirectory = pipelines }
            if let metrics { settings.metricsListen = metrics }
            if let logLevel { settings.logLevel = logLevel }
            if let bonusRules { settings.bonusRulesFile = bonusRules }
            if let offerRules { settings.offerRulesDirectory = offerRules }
            if let catalogue { settings.catalogueDirectory = catalogue }
            if let dropDir { settings.importDropDirectory = dropDir }
            if let postgresUrl {
                do throws(PostgresURL.Invalid) {
                    settings.storage.engine = .postgres(try PostgresURL(postgresUrl))
                } catch {
                    throw DefinitionErrors([DefinitionError(file: "--postgres-url", line: 0, column: 0, message: error.description)])
                }
            }
            if printPublicKey {
                let secret = try settings.security.secretKey()
                guard let publicKey = CurveKeys.publicKey(forSecret: secret) else { throw ExitCode(78) }
                print(publicKey)
                return
            }
            let programme = try settings.loadProgramme()
            try settings.checkSecurity()
            if settings.security.mode == .curve { _ = try settings.security.secretKey() }
            if checkConfig {
                print("configuration OK; \(programme.summary)")
                return
            }
        } catch let errors as DefinitionErrors {
            FileHandle.standardError.write(Data("clubd: invalid configuration:\n\(errors)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "clubd")
        do {
            try await Daemon(config: settings, logger: logger).run()
        } catch {
            logger.critical("clubd failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}


