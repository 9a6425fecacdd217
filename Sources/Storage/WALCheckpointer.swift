import Foundation
import GRDB
import Synchronization

/// Copies committed WAL frames into a database file in the background, on a connection and a
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

    /// Set when the store lets go of the checkpointer: the thread holds this, not the checkpointer.
    private final class Stop: Sendable {
        let requested = Atomic<Bool>(false)
    }

    private let stop = Stop()

    /// Starts checkpointing the database at `path` (in WAL mode).
    init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        let thread = Thread { [stop] in
            while !stop.requested.load(ordering: .acquiring) {
                Thread.sleep(forTimeInterval: Self.interval)
                // Busy (the backstop or another checkpoint running) or failing (a full disk):
                // the next round tries again; the commits' backstop bounds the WAL meanwhile.
                _ = try? connection.inDatabase { db in try db.checkpoint(.passive) }
            }
        }
        thread.name = "clubd-checkpoint"
        thread.start()
    }

    /// The thread ends within one ``interval`` and closes its connection.
    deinit { stop.requested.store(true, ordering: .releasing) }
}
