import ClubKernel
import Foundation
import GRDB
@testable import Storage
import Testing

@Suite struct ActivityLogTests {
    static func record(_ n: Int) -> ActivityEvent {
        ActivityEvent(
            id: "e\(n)", type: "group.joined", user: "u\(n % 7)", at: Int64(n), json: Array(#"{"type":"group.joined","id":"e\#(n)"}"#.utf8))
    }

    /// Reads served by the in-memory tail (with evictions and duplicates in between) equal
    /// reads of the same file by a store that has no tail yet.
    @Test func tailReadsEqualSQLiteReads() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-log-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("clubd.sqlite").path
        let warm = try ClubStore(path: path, tailCapacity: 10)
        for batch in stride(from: 0, to: 40, by: 4) {
            let events = (batch..<batch + 4).map(Self.record) + [Self.record(batch / 2)]  // one duplicate per batch
            _ = try await warm.appendActivity(events, receivedAt: 0)
        }
        let cold = try ClubStore(path: path, tailCapacity: 10)
        for offset in Int64(0)...42 {
            for limit in [1, 3, 100] {
                let fromTail = try await warm.activity(after: offset, limit: limit)
                #expect(fromTail == (try await cold.activity(after: offset, limit: limit)), "after \(offset), limit \(limit)")
            }
        }
        #expect(try await warm.activity(after: 0, limit: 100).map(\.id) == (0..<40).map { "e\($0)" })
        // Appended after the cold store opened: in its tail. (Offsets grow but may skip:
        // an ignored duplicate can use one up.)
        let before = try await cold.activity(after: 0, limit: 100).last!.offset
        _ = try await cold.appendActivity([Self.record(40)], receivedAt: 0)
        #expect(try await cold.activity(after: before, limit: 5).map(\.id) == ["e40"])
    }
}

/// A consumer that names its types reads exactly the log's entries of those types, in order and
/// each once, whether the tail or SQLite serves the read and over stretches longer than one read
/// passes: the oracle is the unfiltered read, filtered afterwards.
@Suite struct FilteredActivityReadTests {
    static let types = ["workout", "profile", "training.step_completed", "group.joined", "bonus.spent"]

    static func record(_ n: Int) -> ActivityEvent {
        // Long runs of one type (as a replay raising step events makes them), then a mix.
        let type = n < 12_000 ? types[n / 3_000 % types.count] : types[n * 7 % types.count]
        return ActivityEvent(id: "e\(n)", type: type, user: "u\(n % 7)", at: Int64(n), json: Array(#"{"type":"\#(type)","id":"e\#(n)"}"#.utf8))
    }

    /// Follows `through` from `offset` to the log's end, as the stage runner does.
    static func drain(_ store: ClubStore, after offset: Int64, limit: Int, types: Set<String>) async throws -> [String] {
        var ids: [String] = []
        var offset = offset
        while true {
            let batch = try await store.activity(after: offset, limit: limit, types: types)
            #expect(batch.records.count <= limit)
            #expect(batch.records.allSatisfy { types.contains($0.type) && $0.offset > offset && $0.offset <= batch.through })
            #expect(batch.through <= store.newestActivityOffset)
            guard batch.through > offset else { break }
            ids += batch.records.map(\.id)
            offset = batch.through
        }
        #expect(offset == store.newestActivityOffset)
        return ids
    }

    @Test func filteredReadsReturnExactlyTheEntriesOfTheirTypes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-filter-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("clubd.sqlite").path
        let warm = try ClubStore(path: path, tailCapacity: 5_000)
        for batch in stride(from: 0, to: 20_000, by: 1_000) {
            _ = try await warm.appendActivity((batch..<batch + 1_000).map(Self.record), receivedAt: 0)
        }
        let cold = try ClubStore(path: path, tailCapacity: 5_000)  // nothing in its tail: SQLite serves every read
        let all = try await warm.activity(after: 0, limit: 30_000)
        #expect(all.count == 20_000)
        for types: Set<String> in [["training.step_completed"], ["workout", "profile"], ["bonus.spent", "group.joined", "workout"], ["nothing.here"]] {
            for after in [Int64(0), 2_999, 16_001] {
                let expected = all.filter { $0.offset > after && types.contains($0.type) }.map(\.id)
                for store in [warm, cold] {
                    for limit in [1, 250, 10_000] where limit > 1 || types.count == 1 {
                        let ids = try await Self.drain(store, after: after, limit: limit, types: types)
                        #expect(ids == expected, "\(types) after \(after), limit \(limit)")
                    }
                }
            }
        }
        #expect(!all.filter { $0.type == "training.step_completed" }.isEmpty)
    }
}

/// The journal of acknowledged telemetry: an entry after a snapshot that emptied the journal is
/// numbered above the snapshot's position, so a restart replays it (SQLite reused number 1 for it
/// before, and a kill -9 lost it).
@Suite struct JournalTests {
    @Test func entriesAfterASnapshotAreReplayedAfterARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-journal-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("clubd.sqlite").path
        var store = try ClubStore(path: path)
        let first = try #require(try await store.appendSubmission(journal: [1], events: [], receivedAt: 0).journalSeq)
        try await store.save(StateSnapshot(parts: [:], journalPosition: first, takenAt: 0), history: [])
        for round in 0..<3 {
            let position = try #require(try await store.loadSnapshot()).journalPosition
            let seq = try #require(try await store.appendSubmission(journal: [UInt8(round)], events: [], receivedAt: 0).journalSeq)
            #expect(seq > position)
            store = try ClubStore(path: path)  // a restart
            #expect(try await store.journal(after: position).map(\.seq) == [seq])
            try await store.save(StateSnapshot(parts: [:], journalPosition: seq, takenAt: 0), history: [])
        }
    }
}

/// A state directory journaled by an earlier clubd: entries that SQLite numbered again from 1 after
/// a snapshot emptied the journal are renumbered after the snapshot's position by the migration,
/// so the next start replays them instead of skipping them.
@Suite struct JournalMigrationTests {
    @Test func misnumberedEntriesAreReplayedAfterTheUpgrade() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-upgrade-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("clubd.sqlite").path
        let old = try DatabaseQueue(path: path)
        try ClubStore.migrator.migrate(old, upTo: "v7-history")
        try await old.write { db in
            try db.execute(sql: "INSERT INTO snapshot_meta (id, taken_at, journal_position) VALUES (1, 0, 5)")
            for (seq, byte) in [(1, 10), (2, 20)] {
                try db.execute(sql: "INSERT INTO journal (seq, received_at, payload) VALUES (?, 0, ?)", arguments: [seq, Data([UInt8(byte)])])
            }
        }
        try old.close()
        let store = try ClubStore(path: path)
        let replayed = try await store.journal(after: 5)
        #expect(replayed.map(\.seq) == [6, 7])
        #expect(replayed.map(\.payload) == [[10], [20]], "in their order")
        let next = try #require(try await store.appendSubmission(journal: [30], events: [], receivedAt: 0).journalSeq)
        #expect(next == 8)
    }
}

/// Snapshot parts are stored in slices of at most 1 MiB and read back whole: large, empty and
/// exactly-sliced parts alike.
@Suite struct SnapshotSliceTests {
    @Test func partsOfEverySizeRoundTrip() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-slices-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ClubStore(path: directory.appendingPathComponent("clubd.sqlite").path)
        let parts: [String: [UInt8]] = [
            "large": (0..<(5 << 19) + 123).map { UInt8(truncatingIfNeeded: $0 &* 31) }, "empty": [],
            "exact": [UInt8](repeating: 7, count: 2 << 20), "small": [1, 2, 3],
        ]
        try await store.save(StateSnapshot(parts: parts, journalPosition: 0, takenAt: 1), history: [])
        #expect(try await store.loadSnapshot()?.parts == parts)
        try await store.save(StateSnapshot(parts: ["small": [9]], journalPosition: 0, takenAt: 2), history: [])
        #expect(try await store.loadSnapshot()?.parts == ["small": [9]], "a new snapshot replaces every slice")
    }
}
