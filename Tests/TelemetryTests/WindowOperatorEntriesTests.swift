import ClubKernel
import Events
import Telemetry
import Testing

/// Incremental snapshots of the window operator: one entry per user, written only for users
/// whose state changed (or deleted for users forgotten). Checked against two independent
/// oracles: the deltas applied to a simulated store always equal the operator's whole state
/// encoded afresh, and a restore from that store anywhere in a stream gives exactly the output
/// of an uninterrupted run.
@Suite struct WindowOperatorEntriesTests {
    /// A random stream of `users` with loss, repeats and reordering; user u's samples stop
    /// after `stopAt[u]` seconds, so the clock idles and then forgets some of them.
    static func stream(users: Int, seed: UInt64) -> [TelemetrySample] {
        var rng = SeededGenerator(seed: seed)
        var stream: [TelemetrySample] = []
        for user in 0..<users {
            var distance = 0.0
            let stop = Int.random(in: 30...300, using: &rng)
            for i in 0..<stop {
                distance += Double.random(in: 0...30, using: &rng)
                guard Int.random(in: 0..<20, using: &rng) != 0 else { continue }  // loss
                stream.append(sample(t0 + Int64(i) * 1_000, distance.rounded(), user: "u\(user)", hr: Double.random(in: 90...180, using: &rng)))
                if Int.random(in: 0..<30, using: &rng) == 0 { stream.append(stream.last!) }
            }
        }
        stream.sort { $0.ts < $1.ts }
        for i in stride(from: 0, to: stream.count - 3, by: 7) where Bool.random(using: &rng) { stream.swapAt(i, i + 2) }
        return stream
    }

    /// The daemon's clock for chunk `index`: one second a chunk, so users who stopped sending
    /// idle (and, with a short session timeout, are forgotten) while others go on.
    static func now(_ index: Int) -> Int64 { Int64(index) * 1_000 }

    /// Applies the changes since the last call to `store`, as a snapshot would.
    static func save(_ op: inout WindowOperator, into store: inout [String: [UInt8]]) -> Int {
        let changed = op.takeChangedUsers()
        for user in changed { store[user] = op.entry(of: user) }
        return changed.count
    }

    @Test(arguments: [WindowSpec.Kind.tumbling(size: minute), .hopping(size: 2 * minute, slide: minute), .session(gap: 20_000)])
    func deltasAppliedToAStoreAlwaysEqualTheWholeStateAndRestoreInvisibly(kind: WindowSpec.Kind) throws {
        let spec = WindowSpec(kind: kind, allowedLateness: minute, outOfOrderness: 3_000, idleTimeout: 20_000, sessionTimeout: 60_000)
        let chunks = Self.stream(users: 30, seed: 7).chunks(of: 40)
        var whole = WindowOperator(spec: spec)
        var expected: [WindowResult] = []
        for (index, chunk) in chunks.enumerated() { expected += whole.process(chunk, now: Self.now(index)).results }
        expected += whole.tick(now: Self.now(chunks.count) + spec.idleTimeout).results

        var rng = SeededGenerator(seed: 99)
        var op = WindowOperator(spec: spec)
        var store: [String: [UInt8]] = [:]
        var got: [WindowResult] = []
        var restores = 0
        var written = 0
        var deleted = 0
        for (index, chunk) in chunks.enumerated() {
            got += op.process(chunk, now: Self.now(index)).results
            guard Int.random(in: 0..<4, using: &rng) == 0 else { continue }
            let before = store.count
            written += Self.save(&op, into: &store)
            deleted += max(0, before - store.count)
            // The first oracle: the store holds exactly the operator's whole state.
            #expect(store == Dictionary(uniqueKeysWithValues: op.entries().map { ($0.key, $0.entry) }), "after chunk \(index)")
            if Bool.random(using: &rng) {
                op = try WindowOperator(spec: spec, entries: store.map { ($0.key, $0.value) })
                restores += 1
            }
        }
        got += op.tick(now: Self.now(chunks.count) + spec.idleTimeout).results
        // The second: restoring anywhere changes nothing.
        #expect(restores > 3 && written > 100 && deleted > 0, "restores \(restores), written \(written), deleted \(deleted)")
        #expect(got.count == expected.count && !expected.isEmpty)
        let firstDifference = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first difference at \(firstDifference ?? -1): \(firstDifference.map { i in (i..<min(i + 3, got.count)).map { "\(got[$0].user) \(got[$0].start) \(got[$0].isUpdate) \(got[$0].aggregate.samples) vs \(expected[$0].user) \(expected[$0].start) \(expected[$0].isUpdate) \(expected[$0].aggregate.samples)" } } ?? [])")
    }

    @Test func onlyTheUsersWhoseStateChangedAreListedEachOnce() {
        let spec = WindowSpec(kind: .tumbling(size: minute), allowedLateness: minute, outOfOrderness: 0, idleTimeout: 10_000, sessionTimeout: 20_000)
        var op = WindowOperator(spec: spec)
        _ = op.process((0..<100).map { sample(t0 + Int64($0 % 10) * 1_000, Double($0), user: "u\($0 / 10)") }, now: 0)
        #expect(Set(op.takeChangedUsers()) == Set((0..<10).map { "u\($0)" }))
        #expect(op.takeChangedUsers().isEmpty)
        // Three users send again: only they are listed, once each however many samples.
        _ = op.process((0..<30).map { sample(t0 + 20_000 + Int64($0) * 100, 1_000 + Double($0), user: "u\($0 % 3)") }, now: 5_000)
        #expect(op.takeChangedUsers().sorted() == ["u0", "u1", "u2"])
        // A tick that closes nobody's windows changes nobody.
        _ = op.tick(now: 6_000)
        #expect(op.takeChangedUsers().isEmpty)
        // The idle ones are closed (changed), and later forgotten (listed, with no entry).
        _ = op.tick(now: 10_000)
        let closed = op.takeChangedUsers()
        #expect(Set(closed) == Set((3..<10).map { "u\($0)" }) && closed.allSatisfy { op.entry(of: $0) != nil })
        _ = op.tick(now: 40_000)
        let forgotten = op.takeChangedUsers()
        #expect(Set(forgotten) == Set((0..<10).map { "u\($0)" }) && forgotten.allSatisfy { op.entry(of: $0) == nil })
        #expect(op.userCount == 0)
    }

    @Test func aDamagedEntryIsRefused() throws {
        var op = WindowOperator(spec: WindowSpec(kind: .tumbling(size: minute), allowedLateness: minute, outOfOrderness: 0))
        _ = op.process([sample(t0, 5, user: "a"), sample(t0 + 1_000, 9, user: "a", hr: 120)], now: 0)
        let entry = try #require(op.entry(of: "a"))
        _ = try WindowOperator(spec: op.spec, entries: [("a", entry)])
        for length in 0..<entry.count {
            #expect(throws: StateReader.Corrupt.self) { try WindowOperator(spec: op.spec, entries: [("a", Array(entry.prefix(length)))]) }
        }
        #expect(throws: StateReader.Corrupt.self) { try WindowOperator(spec: op.spec, entries: [("a", entry + [0])]) }
        var otherVersion = entry
        otherVersion[0] = 9
        #expect(throws: StateReader.Corrupt.self) { try WindowOperator(spec: op.spec, entries: [("a", otherVersion)]) }
        // Any eight bytes read as a huge count (the decoder reserves room for what counts say,
        // bounded by the bytes left): refused, never an allocation of gigabytes.
        for start in 0...(entry.count - 8) {
            var damaged = entry
            withUnsafeBytes(of: Int64(Int32.max - 1).littleEndian) { damaged.replaceSubrange(start..<start + 8, with: $0) }
            _ = try? WindowOperator(spec: op.spec, entries: [("a", damaged)])
        }
    }
}
