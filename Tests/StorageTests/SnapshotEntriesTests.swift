import ClubKernel
import Foundation
import Storage
import Testing

/// Keyed snapshot parts in a real SQLite file: a snapshot writes only the entries that
/// changed, deletes those set to nil, replaces a part whole when told to, drops parts it no
/// longer names, and a load returns every entry — checked against a dictionary kept beside.
@Suite struct SnapshotEntriesTests {
    static func stored(_ store: ClubStore) async throws -> [String: [String: [UInt8]]] {
        let snapshot = try #require(try await store.loadSnapshot())
        return snapshot.entries.mapValues { part in
            #expect(part.replacesAll, "a loaded part holds every entry")
            return Dictionary(uniqueKeysWithValues: part.changes.map { ($0.key, $0.entry!) })
        }.filter { !$0.value.isEmpty }
    }

    @Test func changesApplyIncrementallyAndLoadWhole() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-entries-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("clubd.sqlite").path
        var store = try ClubStore(path: path)
        var oracle: [String: [String: [UInt8]]] = [:]
        var rng = SystemRandomNumberGenerator()
        for round in 1...30 {
            var entries: [String: EntryChanges] = [:]
            for part in ["stage.a", "stage.b"] {
                let replacesAll = round % 10 == 0 && part == "stage.b"
                if replacesAll { oracle[part] = [:] }
                var changes: [(key: String, entry: [UInt8]?)] = []
                for _ in 0..<Int.random(in: 0...40, using: &rng) {
                    let key = "u\(Int.random(in: 0..<100, using: &rng))"
                    guard !changes.contains(where: { $0.key == key }) else { continue }
                    let entry: [UInt8]? =
                        !replacesAll && Int.random(in: 0..<4, using: &rng) == 0
                        ? nil : (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    changes.append((key, entry))
                    oracle[part, default: [:]][key] = entry
                }
                entries[part] = EntryChanges(replacesAll: replacesAll, changes: changes)
            }
            try await store.save(StateSnapshot(parts: ["spec": [UInt8(round)]], entries: entries, journalPosition: 0, takenAt: Int64(round)), history: [])
            if round % 7 == 0 { store = try ClubStore(path: path) }  // reopened: all is in the file
            #expect(try await Self.stored(store) == oracle.filter { !$0.value.isEmpty }, "round \(round)")
            #expect(try await store.loadSnapshot()?.parts == ["spec": [UInt8(round)]])
        }
        #expect(oracle["stage.a"]!.count > 20)
        // A snapshot that no longer names a part (its pipeline removed) deletes it.
        try await store.save(StateSnapshot(parts: [:], entries: ["stage.a": EntryChanges(replacesAll: false, changes: [])], journalPosition: 0, takenAt: 99), history: [])
        #expect(try await Self.stored(store) == ["stage.a": oracle["stage.a"]!])
    }

    /// Commits append to the WAL and a background checkpointer copies it back: the WAL is
    /// reused, not grown until a commit's own checkpoint at ~40 MB (what SQLite's default did at
    /// 4 MB, inside the commit), and everything reads back after a reopen.
    @Test func theWALIsCheckpointedInTheBackground() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-wal-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("clubd.sqlite").path
        var store = try ClubStore(path: path)
        var oracle: [String: [UInt8]] = [:]
        var rng = SystemRandomNumberGenerator()
        var largest = 0
        for round in 0..<12 {
            // 2,000 entries of 512 bytes scattered over 20,000 keys: several MB of pages a round.
            var changes: [(key: String, entry: [UInt8]?)] = []
            for key in Set((0..<2_000).map { _ in Int.random(in: 0..<20_000, using: &rng) }) {
                let entry = [UInt8](repeating: UInt8(truncatingIfNeeded: round &+ key), count: 512)
                changes.append(("u\(key)", entry))
                oracle["u\(key)"] = entry
            }
            try await store.save(
                StateSnapshot(parts: [:], entries: ["stage.a": EntryChanges(replacesAll: round == 0, changes: changes)], journalPosition: 0, takenAt: 1),
                history: [])
            try await Task.sleep(for: .milliseconds(400))  // the checkpointer runs every 250 ms
            let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
            largest = max(largest, wal)
        }
        #expect(largest > 0 && largest < 24 << 20, "WAL reached \(largest) bytes")
        store = try ClubStore(path: path)
        #expect(try await Self.stored(store) == ["stage.a": oracle])
    }
}
