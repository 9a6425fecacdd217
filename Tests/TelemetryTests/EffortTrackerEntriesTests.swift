import ClubKernel
import Events
import Foundation
import Testing

@testable import Telemetry

/// Incremental snapshots of the personal-record tracker: an entry per open session and per
/// user's bests. The deltas applied to a simulated store always equal the tracker's entries
/// encoded afresh, and a restore from the store anywhere gives the same records as an
/// uninterrupted run.
@Suite struct EffortTrackerEntriesTests {
    /// Applies the changes since the last call to the stores, as a snapshot would.
    static func save(_ tracker: inout EffortTracker, sessions: inout [String: [UInt8]], bests: inout [String: [UInt8]]) -> Int {
        let changed = tracker.takeChanges()
        for key in changed.sessions { sessions[key.entryKey] = tracker.sessionEntry(key) }
        for user in changed.bests { bests[user] = tracker.bestsEntry(user) }
        return changed.sessions.count + changed.bests.count
    }

    @Test func deltasEqualTheWholeStateAndARestoreAnywhereSetsTheSameRecords() throws {
        var rng = SeededGenerator(seed: 5)
        // 40 users (ids with ':' and digits, to exercise the entry keys), sessions that start
        // and stop at random seconds, so that sessions end and bests change all along.
        var batches: [[TelemetrySample]] = []
        var distance: [String: Double] = [:]
        for second in 0..<400 {
            var batch: [TelemetrySample] = []
            for user in 0..<40 where (second / (20 + user % 7)) % 3 != 2 && Int.random(in: 0..<3, using: &rng) != 0 {
                let id = "u:\(user)"
                let session = "s\(second / (3 * (20 + user % 7)))"
                let key = "\(id)/\(session)"
                distance[key, default: 0] += Double.random(in: 50...120, using: &rng)
                batch.append(TelemetrySample(user: id, device: "d\(user % 2)", session: session, ts: 1_000_000 + Int64(second) * 10_000, distance: distance[key]))
            }
            batches.append(batch)
        }
        let now = { (i: Int) in Int64(i) * 10_000 }  // ten seconds of the clock per batch: idle sessions end
        var whole = EffortTracker(distances: [1000, 5000], idleMillis: 30_000)
        var expected: [EffortTracker.Record] = []
        for (i, batch) in batches.enumerated() { expected += whole.process(batch, now: now(i)) }
        expected += whole.process([], now: now(batches.count) + 60_000)

        var tracker = EffortTracker(distances: [1000, 5000], idleMillis: 30_000)
        var sessions: [String: [UInt8]] = [:]
        var bests: [String: [UInt8]] = [:]
        var got: [EffortTracker.Record] = []
        var restores = 0
        var written = 0
        for (i, batch) in batches.enumerated() {
            got += tracker.process(batch, now: now(i))
            guard Int.random(in: 0..<5, using: &rng) == 0 else { continue }
            written += Self.save(&tracker, sessions: &sessions, bests: &bests)
            #expect(sessions == Dictionary(uniqueKeysWithValues: tracker.sessionEntries().map { ($0.key, $0.entry) }), "sessions after batch \(i)")
            #expect(bests == Dictionary(uniqueKeysWithValues: tracker.bestsEntries().map { ($0.key, $0.entry) }), "bests after batch \(i)")
            if Bool.random(using: &rng) {
                tracker = try EffortTracker(meta: tracker.meta(), sessions: Array(sessions.values), bests: bests.map { ($0.key, $0.value) })
                restores += 1
            }
        }
        got += tracker.process([], now: now(batches.count) + 60_000)
        #expect(restores > 5 && written > 100 && !bests.isEmpty, "restores \(restores), written \(written)")
        #expect(expected.count > 40)
        let key = { (r: EffortTracker.Record) in "\(r.user) \(r.session) \(r.distance) \(r.millis) \(r.previousMillis ?? -1)" }
        #expect(got.map(key) == expected.map(key))
    }

    @Test func damagedEntriesAndMetaAreRefused() throws {
        var tracker = EffortTracker(distances: [1000])
        _ = tracker.process([TelemetrySample(user: "a", device: "d", session: "s", ts: 1, distance: 10)], now: 0)
        let meta = tracker.meta()
        let key = try #require(tracker.takeChanges().sessions.first)
        let entry = try #require(tracker.sessionEntry(key))
        _ = try EffortTracker(meta: meta, sessions: [entry], bests: [])
        #expect(EffortTracker.isMeta(meta) && !EffortTracker.isMeta(tracker.snapshot()))
        for length in 0..<entry.count {
            #expect(throws: StateReader.Corrupt.self) { try EffortTracker(meta: meta, sessions: [Array(entry.prefix(length))], bests: []) }
        }
        for length in 0..<meta.count {
            #expect(throws: StateReader.Corrupt.self) { try EffortTracker(meta: Array(meta.prefix(length)), sessions: [entry], bests: []) }
        }
        #expect(throws: StateReader.Corrupt.self) { try EffortTracker(meta: meta, sessions: [], bests: [("a", [3, 0, 0, 0, 0, 0, 0, 0, 1])]) }
    }

    /// Entries of version 3 (each point as its absolute time and metres) still restore: the
    /// current entries rewritten so, with the meta and bests relabelled, give an equal tracker
    /// that sets the same records.
    @Test func entriesOfVersion3StillRestore() throws {
        var tracker = EffortTracker(distances: [1000, 5000])
        let t0: Int64 = 1_795_000_000_000
        for second in 0..<300 {
            let batch = ["a", "b", "c"].enumerated().map { i, user in
                TelemetrySample(user: user, device: "d", session: "s", ts: t0 + Int64(second) * 2_000, distance: Double(second) * (7.25 + Double(i)))
            }
            _ = tracker.process(batch, now: 0)
        }
        _ = tracker.finish([], at: 1)  // three bests, then three sessions open
        func second(_ second: Int) -> [TelemetrySample] {
            ["a", "b", "c"].enumerated().map { i, user in
                TelemetrySample(user: user, device: "d", session: "s2", ts: t0 + 700_000 + Int64(second) * 2_000, distance: Double(second) * (9.5 + Double(i)))
            }
        }
        for s in 0..<100 { _ = tracker.process(second(s), now: 200_000) }
        func relabel(_ bytes: [UInt8]) throws -> [UInt8] {
            var r = StateReader(bytes)
            #expect(try r.readInt64() == 4)
            var w = StateWriter()
            w.write(Int64(3))
            return w.bytes + bytes.dropFirst(8)
        }
        func downgrade(_ entry: [UInt8]) throws -> [UInt8] {
            var r = StateReader(entry)
            #expect(try r.readInt64() == 4)
            var w = StateWriter()
            w.write(Int64(3))
            for _ in 0..<3 { w.write(try r.readString()) }
            w.write(try r.readInt64())
            w.write(try r.readOptionalInt64())
            let count = try r.readInt()
            w.write(count)
            let (baseTs, baseMillimetres) = (try r.readInt64(), try r.readInt64())
            for _ in 0..<count {
                let word = UInt64(bitPattern: try r.readInt64())
                w.write(baseTs + Int64(word >> 32))
                w.write(Double(baseMillimetres + Int64(word & 0xffff_ffff)) / 1000)
            }
            for _ in 0..<2 { w.write(try r.readInt64()) }
            for _ in 0..<2 { w.write(try r.readOptionalInt64()) }
            #expect(r.isAtEnd)
            return w.bytes
        }
        let sessions = try tracker.sessionEntries().map { try downgrade($0.entry) }
        let bests = try tracker.bestsEntries().map { (key: $0.key, entry: try relabel($0.entry)) }
        #expect(sessions.count == 3 && bests.count == 3)
        var restored = try EffortTracker(meta: try relabel(tracker.meta()), sessions: sessions, bests: bests)
        #expect(restored == tracker)
        let rest = (100..<300).flatMap(second)
        let expected = tracker.finish(rest, at: 300_000)
        #expect(restored.finish(rest, at: 300_000) == expected)
        #expect(expected.count == 3 && expected.allSatisfy { $0.previousMillis != nil }, "faster kilometres than the first sessions'")
    }
}
