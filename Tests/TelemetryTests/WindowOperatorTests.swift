import ClubKernel
import Events
import Telemetry
import Testing

func sample(_ ts: Int64, _ distance: Double? = nil, user: String = "u", device: String = "d", session: String = "s",
            hr: Double? = nil, speed: Double? = nil, alt: Double? = nil) -> TelemetrySample {
    TelemetrySample(user: user, device: device, session: session, ts: ts, distance: distance, heartRate: hr, speed: speed, altitude: alt)
}

let minute: Int64 = 60_000
let t0: Int64 = 1_764_237_600_000  // a minute boundary

@Suite struct WindowOperatorTests {
    let tumbling = WindowSpec(kind: .tumbling(size: minute), allowedLateness: minute, outOfOrderness: 0)

    @Test func tumblingWindowsFollowTheCounterRuleUnderLossDuplicationAndReordering() {
        var op = WindowOperator(spec: tumbling)
        // Counter 0,100,...; the sample at +40 s is lost, +20 s repeated, +50 s before +30 s.
        let stream = [
            sample(t0, 0, hr: 100), sample(t0 + 10_000, 100, hr: 120), sample(t0 + 20_000, 200, hr: 140),
            sample(t0 + 20_000, 200, hr: 140), sample(t0 + 50_000, 500, hr: 160), sample(t0 + 30_000, 300, hr: 150),
            sample(t0 + 70_000, 700, hr: 170), sample(t0 + 130_000, 1300),
        ]
        let out = op.process(stream)
        #expect(out.duplicates == 1)
        let finals = out.results.filter { !$0.isUpdate }
        #expect(finals.map(\.start) == [t0, t0 + minute])
        #expect(finals[0].aggregate.samples == 5)
        #expect(finals[0].aggregate.distance == 500)
        #expect(finals[0].aggregate.heartRateMax == 160)
        #expect(finals[0].aggregate.averageHeartRate == 134)
        #expect(finals[1].aggregate.distance == 200)  // 700 − 500; 1300 − 700 belongs to the third window
        #expect(finals[1].aggregate.samples == 1)
        // Windows add up to the final counter once the third closes.
        let third = op.process([sample(t0 + 200_000, 1400)]).results.first { $0.start == t0 + 2 * minute }
        #expect(third?.aggregate.distance == 600)
    }

    @Test func counterResetContributesItsOwnValue() {
        var op = WindowOperator(spec: tumbling)
        let out = op.process([sample(t0, 1000), sample(t0 + 10_000, 1500), sample(t0 + 20_000, 200), sample(t0 + 120_000, 300)])
        #expect(out.results.first?.aggregate.distance == 1700)
    }

    @Test func lateSampleWithinLatenessCorrectsTheWindowAndBeyondItGoesToLate() {
        var op = WindowOperator(spec: tumbling)
        var out = op.process([sample(t0, 0), sample(t0 + 30_000, 300), sample(t0 + 65_000, 650)])
        #expect(out.results.map(\.aggregate.distance) == [300])
        // A sample in the closed window, within the lateness: the next window's delta shrinks.
        out = op.process([sample(t0 + 50_000, 500)])
        #expect(out.results.count == 1)
        #expect(out.results[0].isUpdate && out.results[0].start == t0 && out.results[0].aggregate.distance == 500)
        out = op.process([sample(t0 + 125_000, 1250)])
        let second = out.results.first { $0.start == t0 + minute && !$0.isUpdate }
        #expect(second?.aggregate.distance == 150)  // 650 − 500
        // The first window is now beyond its lateness: a sample for it is late.
        out = op.process([sample(t0 + 55_000, 550)])
        #expect(out.late.map(\.ts) == [t0 + 55_000])
        #expect(out.results.isEmpty)
    }

    @Test func hoppingWindowsOverlap() {
        let spec = WindowSpec(kind: .hopping(size: 2 * minute, slide: minute), allowedLateness: 0, outOfOrderness: 0)
        var op = WindowOperator(spec: spec)
        let out = op.process([sample(t0 + 10_000, 100), sample(t0 + 70_000, 700), sample(t0 + 190_000, 1900)])
        let byStart = Dictionary(uniqueKeysWithValues: out.results.map { ($0.start, $0.aggregate) })
        #expect(byStart[t0 - minute]?.distance == 100)
        #expect(byStart[t0]?.distance == 700)
        #expect(byStart[t0]?.samples == 2)
        #expect(byStart[t0 + minute]?.distance == 600)
    }

    @Test func sessionWindowsSplitOnGapsAndMergeWhenALateSampleBridgesThem() {
        let spec = WindowSpec(kind: .session(gap: 30_000), allowedLateness: 5 * minute, outOfOrderness: 0)
        var op = WindowOperator(spec: spec)
        var out = op.process([sample(t0, 0), sample(t0 + 20_000, 100), sample(t0 + 60_000, 300), sample(t0 + 70_000, 350), sample(t0 + 200_000, 900)])
        #expect(out.results.map(\.start) == [t0, t0 + 60_000])
        #expect(out.results.map(\.aggregate.distance) == [100, 250])
        #expect(out.results[0].end == t0 + 50_000)
        // A sample at +40 s bridges both sessions.
        out = op.process([sample(t0 + 40_000, 200)])
        #expect(out.results.count == 1)
        #expect(out.results[0].isUpdate && out.results[0].start == t0 && out.results[0].aggregate.distance == 350)
        #expect(out.results[0].aggregate.samples == 5)
    }

    @Test func movingTimeAndElevationGain() {
        var op = WindowOperator(spec: tumbling)
        let out = op.process([
            sample(t0, 0, speed: 3, alt: 100), sample(t0 + 5_000, 15, speed: 3, alt: 103),
            sample(t0 + 10_000, 15, speed: 0, alt: 101), sample(t0 + 15_000, 30, speed: 3, alt: 104),
            sample(t0 + 59_000, 150, speed: 3, alt: 104), sample(t0 + 125_000, 200),
        ])
        let a = out.results[0].aggregate
        #expect(a.movingMillis == 10_000)  // +5 s, +15 s; the stop and the 44 s gap do not count
        #expect(a.elevationGain == 6)
        #expect(a.averageSpeed == 2.4)
    }

    /// Event time is per user: one user's samples hours ahead make nobody else's late, and
    /// close nobody else's windows.
    @Test func anotherUsersTimeNeitherClosesNorMakesLate() {
        let spec = WindowSpec(kind: .tumbling(size: minute), allowedLateness: 0, outOfOrderness: 0, idleTimeout: 2 * minute)
        var op = WindowOperator(spec: spec)
        _ = op.process([sample(t0, 10, user: "watch")], now: 0)
        let ahead = op.process([sample(t0 + 4 * 3_600_000, 1, user: "phone")], now: 1_000)
        #expect(ahead.results.isEmpty)
        // The watch syncs its run: all of it counts, windows close on its own time.
        let synced = op.process((1...12).map { sample(t0 + Int64($0) * 10_000, 10 + Double($0) * 30, user: "watch") }, now: 2_000)
        #expect(synced.late.isEmpty)
        #expect(synced.results.map(\.user) == ["watch", "watch"], "minutes 0 and 1 closed by the watch's own time")
        #expect(synced.results.map(\.aggregate.distance) == [160, 180])
    }

    /// A user who stops sending has every window emitted by the daemon's clock after the idle
    /// timeout; later samples for those windows are late (judged for that user), newer ones
    /// open windows that continue the device's counter; the state goes after `sessionTimeout`.
    @Test func idleUsersCloseOnTheClock() {
        let spec = WindowSpec(kind: .tumbling(size: minute), allowedLateness: minute, outOfOrderness: 0, idleTimeout: 2 * minute)
        var op = WindowOperator(spec: spec)
        let own = op.process([sample(t0, 10, user: "quiet"), sample(t0 + 70_000, 40, user: "quiet")], now: 0)
        #expect(own.results.map(\.aggregate.distance) == [10], "closed by the user's own time")
        #expect(op.tick(now: 2 * minute - 1).results.isEmpty)
        let closed = op.tick(now: 2 * minute)
        #expect(closed.results.map(\.aggregate.distance) == [30])
        #expect(op.openWindowCount == 0)
        let later = op.process([sample(t0 + 80_000, 50, user: "quiet"), sample(t0 + 130_000, 90, user: "quiet")], now: 3 * minute)
        #expect(later.late.count == 1, "its window was closed for good")
        #expect(op.tick(now: 6 * minute).results.map(\.aggregate.distance) == [50], "the counter continues from 40")
        _ = op.tick(now: 3 * minute + spec.sessionTimeout)
        #expect(op.userCount == 0)
    }

    /// Sessions of users who stopped close on the clock whatever the order the users came in.
    @Test func idleSessionsOfEveryUserClose() {
        let spec = WindowSpec(kind: .session(gap: 30_000), allowedLateness: minute, outOfOrderness: 0)
        var op = WindowOperator(spec: spec)
        var batch = (0...24).map { sample(t0 + Int64($0) * 10_000, Double($0) * 50, user: "u-1") }
        batch += (0...6).map { sample(t0 + Int64($0) * 10_000, Double($0) * 50, user: "u-2") }
        _ = op.process(batch, now: 0)
        _ = op.process([sample(t0 + 600_000, 0, user: "u-3")], now: 60_000)
        let out = op.tick(now: spec.idleTimeout)
        #expect(out.results.filter { !$0.isUpdate }.map(\.user).sorted() == ["u-1", "u-2"])
        #expect(out.results.first { $0.user == "u-2" }?.aggregate.distance == 300)
        #expect(op.tick(now: 60_000 + spec.idleTimeout).results.map(\.user) == ["u-3"])
    }

    /// Random streams with loss, duplicates and reordering: a snapshot taken anywhere and
    /// restored gives exactly the output of an uninterrupted run, and a session's windows
    /// sum to its final counter.
    @Test(arguments: [WindowSpec.Kind.tumbling(size: minute), .hopping(size: 2 * minute, slide: minute), .session(gap: 20_000)])
    func snapshotRestoreIsInvisible(kind: WindowSpec.Kind) throws {
        var rng = SeededGenerator(seed: 42)
        let spec = WindowSpec(kind: kind, allowedLateness: minute, outOfOrderness: 3_000)
        var stream: [TelemetrySample] = []
        for user in 0..<20 {
            var distance = 0.0
            for i in 0..<300 {
                distance += Double.random(in: 0...30, using: &rng)
                let ts = t0 + Int64(i) * 1_000 + (i > 150 ? 40_000 : 0)
                guard Int.random(in: 0..<20, using: &rng) != 0 else { continue }  // loss
                stream.append(sample(ts, distance.rounded(), user: "u\(user)", hr: Double.random(in: 90...180, using: &rng)))
                if Int.random(in: 0..<30, using: &rng) == 0 { stream.append(stream.last!) }
            }
        }
        stream.sort { $0.ts < $1.ts }
        for i in stride(from: 0, to: stream.count - 3, by: 7) where Bool.random(using: &rng) { stream.swapAt(i, i + 2) }
        // Then the daemon's clock passes everyone's idle timeout.
        var whole = WindowOperator(spec: spec)
        let expected = stream.chunks(of: 100).flatMap { whole.process($0).results } + whole.tick(now: spec.idleTimeout).results

        let cut = stream.count / 2
        var first = WindowOperator(spec: spec)
        var got = stream[..<cut].chunks(of: 100).flatMap { first.process($0).results }
        var second = try WindowOperator(spec: spec, snapshot: first.snapshot())
        got += stream[cut...].chunks(of: 100).flatMap { second.process($0).results } + second.tick(now: spec.idleTimeout).results
        #expect(got.count == expected.count)
        let firstDifference = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first difference at \(firstDifference ?? -1): \(firstDifference.map { "\(got[$0].user) \(got[$0].start) \(got[$0].end) \(got[$0].isUpdate) vs \(expected[$0].user) \(expected[$0].start) \(expected[$0].end) \(expected[$0].isUpdate)" } ?? "")")

        if case .tumbling = kind {
            let finals = Dictionary(grouping: expected, by: { "\($0.user)@\($0.start)" }).compactMap { $0.value.last }
            for user in 0..<20 {
                let total = finals.filter { $0.user == "u\(user)" }.reduce(0.0) { $0 + $1.aggregate.distance }
                let last = stream.filter { $0.user == "u\(user)" }.compactMap(\.distance).max()!
                #expect(abs(total - last) < 1e-6)
            }
        }
    }

    @Test func corruptSnapshotIsRefused() {
        let op = WindowOperator(spec: tumbling)
        var bytes = op.snapshot()
        bytes.append(1)
        #expect(throws: StateReader.Corrupt.self) { try WindowOperator(spec: tumbling, snapshot: bytes) }
        #expect(throws: StateReader.Corrupt.self) { try WindowOperator(spec: tumbling, snapshot: [1, 2, 3]) }
    }
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state ^ (state >> 33)
    }
}

extension Collection {
    func chunks(of size: Int) -> [[Element]] {
        var result: [[Element]] = []
        var index = startIndex
        while index != endIndex {
            let next = self.index(index, offsetBy: size, limitedBy: endIndex) ?? endIndex
            result.append(Array(self[index..<next]))
            index = next
        }
        return result
    }
}

extension WindowOperator {
    /// Event time alone: every sample arrives at the same instant, so no user idles.
    mutating func process(_ samples: [TelemetrySample]) -> WindowOutput { process(samples, now: 0) }
}
