import Foundation
import GRDB

/// The adapter's own durable state, in SQLite: where it is in the shop's member list and in
/// clubd's two feeds, and the deliveries the shop refused for good. A position moves only
/// after what it covers was acknowledged (by clubd's `submit`, or by the shop with a 2xx), so
/// a restart resumes without losing anything; what was sent but not yet recorded is sent
/// again with the same idempotency key, which the shop de-duplicates.
public final class AdapterState: Sendable {
    private let queue: DatabaseQueue

    public init(path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE position (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE refused_delivery (
                        key TEXT PRIMARY KEY, status INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
                    """)
        }
        try migrator.migrate(queue)
    }

    /// The position `name` (`members`, `ledger`, `offers`), or nil before the first.
    public func position(_ name: String) throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM position WHERE name = ?", arguments: [name]) }
    }

    public func setPosition(_ name: String, _ value: String) throws {
        try queue.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO position (name, value) VALUES (?, ?)", arguments: [name, value])
        }
    }

    /// Records a delivery the shop refused for good (a 4xx other than 408 and 429), by its
    /// idempotency key (which holds no personal data) and status.
    public func recordRefused(key: String, status: Int) throws {
        try queue.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO refused_delivery (key, status, at) VALUES (?, ?, ?)",
                arguments: [key, status, Int64(Date().timeIntervalSince1970 * 1000)])
        }
    }
}
