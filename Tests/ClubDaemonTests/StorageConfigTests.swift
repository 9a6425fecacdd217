import ClubDaemon
import Definitions
import PostgresStorage
import Testing

/// The `storage.*` keys: the default engine, a PostgreSQL URI read into its parts, and every
/// mistake located in the file.
@Suite struct StorageConfigTests {
    func parse(_ text: String) throws -> ClubConfig {
        var mapping = try YAMLMapping.parse(text, file: "clubd.yaml").get()
        return try ClubConfig.parse(&mapping)
    }

    @Test func sqliteByDefaultPostgresByURL() throws {
        #expect(try parse("log: {level: info}\n").storage.engine == .sqlite)
        let postgres = try parse(
            "storage:\n  engine: postgres\n  postgres:\n    url: postgresql://club@10.0.0.5:6000/clubdb?sslmode=disable\n    pool_size: 4\n")
        #expect(postgres.storage.postgresPoolSize == 4)
        guard case .postgres(let url) = postgres.storage.engine else {
            Issue.record("engine: postgres was not read: \(postgres.storage.engine)")
            return
        }
        #expect(url.host == "10.0.0.5" && url.port == 6000)
        #expect(url.database == "clubdb" && url.tls == .disable)
    }

    @Test func leaseKeysHaveTheirDefaultsAndAreRead() throws {
        let defaults = try parse("log: {level: info}\n").storage
        #expect(defaults.leaseSeconds == 10 && defaults.instance == nil && defaults.advertiseHost == nil)
        let set = try parse("storage:\n  lease_s: 3\n  instance: shop-a\n  advertise: 10.0.0.5\n").storage
        #expect(set.leaseSeconds == 3 && set.instance == "shop-a" && set.advertiseHost == "10.0.0.5")
    }

    @Test func wildcardEndpointsAreAdvertisedWithTheHost() {
        #expect(Daemon.advertised("tcp://*:7002", host: "10.0.0.5") == "tcp://10.0.0.5:7002")
        #expect(Daemon.advertised("tcp://0.0.0.0:7001", host: "club-a") == "tcp://club-a:7001")
        #expect(Daemon.advertised("tcp://[::]:7003", host: "club-a") == "tcp://club-a:7003")
        #expect(Daemon.advertised("tcp://127.0.0.1:7002", host: "club-a") == "tcp://127.0.0.1:7002")
        #expect(Daemon.advertised("ipc:///run/clubd/command", host: "club-a") == "ipc:///run/clubd/command")
    }

    @Test func mistakesAreLocated() {
        let cases: [(text: String, expected: [String])] = [
            ("storage:\n  engine: oracle\n", ["clubd.yaml:2:", "sqlite or postgres"]),
            ("storage:\n  engine: postgres\n", ["clubd.yaml:2:", "needs postgres.url"]),
            ("storage:\n  engine: postgres\n  postgres:\n    url: mysql://h/db\n", ["clubd.yaml:4:", "scheme 'mysql'"]),
            ("storage:\n  postgres:\n    url: postgresql://h/db\n    pool_size: 1\n", ["clubd.yaml:4:", "pool_size"]),
            ("storage:\n  partitions: 64\n", ["clubd.yaml:2:", "not built yet"]),
            ("storage:\n  lease_s: 0\n", ["clubd.yaml:2:", "lease_s"]),
            ("storage:\n  instance: \"shop a\"\n", ["clubd.yaml:2:", "instance"]),
            ("storage:\n  advertise: \"tcp://h\"\n", ["clubd.yaml:2:", "advertise"]),
            ("storage:\n  postgres:\n    host: h\n", ["clubd.yaml:3:", "host"]),
        ]
        for (text, expected) in cases {
            do {
                _ = try parse(text)
                Issue.record("accepted: \(text)")
            } catch let errors as DefinitionErrors {
                let message = "\(errors)"
                #expect(errors.errors.count == 1, "\(message)")
                for part in expected { #expect(message.contains(part), "\(message) lacks \(part)") }
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}
