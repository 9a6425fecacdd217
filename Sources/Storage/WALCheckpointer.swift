import ClubRuntime
import Foundation
import GRDB

/// Copies committed WAL frames into the database files in the background, on connections and a
/// thread of its own, so that no commit pays for a checkpoint.
///
/// SQLite's default checkpoints run inside the commit that takes the WAL past 1,000 pages: that
/// commit writes every page back into the database file and fsyncs it before it returns. For a
/// snapshot that changed a thousand users' entries scattered over a 100,000-user table, that was
/// 150 ms of a 190 ms snapshot — and any `submit` whose commit crossed the line waited as long.
/// Here commits only append to the WAL (and fsync it: durability is unchanged), and this
/// checkpointer copies frames back every ``interval`` with `PASSIVE` checkpoints, which wait for
/// no reader and no writer. The writers keep SQLite's own checkpoint as a backstop at
/// ``backstopPages``, should this one fall behind.
final class WALCheckpointer: Sendable {
    /// How often the WAL is checkpointed.
    static let interval: TimeInterval = 0.25
    /// WAL pages after which a commit checkpoints itself (SQLite's default is 1,000): ~40 MB.
    static let backstopPages = 10_000

    /// One per file, in the order given. Each serializes its checkpoints, the background
    /// rounds and ``checkpoint(_:_:)`` alike, so they never meet as `SQLITE_BUSY`.
    private let connections: [DatabaseQueue]
    /// Set when the store lets go of the checkpointer: the thread holds this, not the checkpointer.
    private let stop = OnceFlag()

    /// Starts checkpointing the databases at `paths` (in WAL mode).
    init(paths: [String]) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        configuration.busyMode = .timeout(5)  // a `TRUNCATE` waits for readers and writers
        let connections = try paths.map { try DatabaseQueue(path: $0, configuration: configuration) }
        self.connections = connections
        let thread = Thread { [stop] in
            while !stop.isSet {
                Thread.sleep(forTimeInterval: Self.interval)
                // Busy (the backstop running) or failing (a full disk): the next round tries
                // again; the commits' backstop bounds the WAL meanwhile.
                for connection in connections { _ = try? connection.inDatabase { db in try db.checkpoint(.passive) } }
            }
        }
        thread.name = "clubd-checkpoint"
        thread.start()
    }

    /// Checkpoints file `index` (of the paths given) now, in `mode`, in turn with the background rounds.
    func checkpoint(_ index: Int, _ mode: Database.CheckpointMode) throws {
        _ = try connections[index].inDatabase { db in try db.checkpoint(mode) }
    }

    /// The thread ends within one ``interval`` and closes the connections.
    deinit { stop.set() }
}
