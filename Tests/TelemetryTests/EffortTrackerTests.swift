import ClubKernel
import Events
import Foundation
import Testing

@testable import Telemetry

@Suite struct EffortTrackerTests {
    static let t0: Int64 = 1_795_000_000_000

    /// One sample every 10 s with the given speeds (m/s) per 10-second step.
    func session(_ speeds: [Double], user: String = "u", session: String = "s", from start: Int64 = t0) -> [TelemetrySample] {
        var distance = 0.0
        var samples = [TelemetrySample(user: user, device: "d", session: session, ts: start, distance: 0)]
        for (i, speed) in speeds.enumerated() {
            distance += speed * 10
            samples.append(TelemetrySample(user: user, device: "d", session: session, ts: start + Int64(i + 1) * 10_000, distance: distance))
        }
        return samples
    }

    /// The daemon's clock for the samples of each call: an hour per run.
    static let clock: Int64 = 1_796_000_000_000

    @Test func fastestEffortsSlideOverTheCumulativeDistance() {
        var tracker = EffortTracker(distances: [1000, 2000])
        // 5 m/s for 200 s (1 km), 10 m/s for 100 s (1 km), then 4 m/s for 250 s (1 km).
        let run = session(Array(repeating: 5, count: 20) + Array(repeating: 10, count: 10) + Array(repeating: 4, count: 25))
        #expect(tracker.process(run, now: Self.clock).isEmpty)  // still running
        #expect(tracker.process([], now: Self.clock + 119_000).isEmpty)
        // Another user's time far ahead ends nothing; the clock passing the idle time does.
        #expect(tracker.process([TelemetrySample(user: "other", device: "x", session: "x", ts: run.last!.ts + 7_200_000, distance: 0)], now: Self.clock + 1_000).isEmpty)
        let records = tracker.process([], now: Self.clock + 120_000)
        #expect(records.map { "\(Int($0.distance)):\($0.millis)" } == ["1000:100000", "2000:300000"])
        #expect(records.allSatisfy { $0.previousMillis == nil && $0.endedAt == run.last!.ts })
    }

    @Test func onlyBetterSessionsSetRecordsAndResetsStartNewSegments() {
        var tracker = EffortTracker(distances: [1000])
        let first = session(Array(repeating: 5, count: 20))  // 1 km in 200 s
        _ = tracker.finish(first, at: Self.clock)
        let slower = session(Array(repeating: 4, count: 30), session: "s2", from: Self.t0 + 3_600_000)
        #expect(tracker.finish(slower, at: Self.clock + 3_600_000).isEmpty)
        // A device reset halfway: no effort spans it, even though the counter jumps.
        var reset = session(Array(repeating: 8, count: 10), session: "s3", from: Self.t0 + 7_200_000)
        reset += session(Array(repeating: 8, count: 10), session: "s3", from: Self.t0 + 7_200_000 + 110_000).dropFirst()
        let records = tracker.finish(reset, at: Self.clock + 7_200_000)
        #expect(records.isEmpty)  // 800 m per segment: no 1 km in either
        let faster = session(Array(repeating: 6.25, count: 20), session: "s4", from: Self.t0 + 10_800_000)  // 1 km in 160 s
        let record = tracker.finish(faster, at: Self.clock + 10_800_000).first
        #expect(record?.millis == 160_000 && record?.previousMillis == 200_000)
    }

    /// Points keep 32-bit offsets from their session's base: an odometer-like counter far
    /// beyond 4,294 km, and a session whose samples span more than 49 days, still find their
    /// efforts (the second one in a new segment), and restore from a snapshot equal.
    @Test func countersFarFromZeroAndSessionsLongerThan32BitOffsets() throws {
        var tracker = EffortTracker(distances: [1000])
        let odometer = 900_000_000.0  // 900,000 km: the most the decoder admits is 1e9 m
        let day: Int64 = 86_400_000
        let samples = [(Self.t0, odometer), (Self.t0 + 100_000, odometer + 1000), (Self.t0 + 60 * day, odometer + 1500),
                       (Self.t0 + 60 * day + 80_000, odometer + 2500.0004), (Self.t0 + 60 * day + 90_000, odometer + 3000)]
            .map { TelemetrySample(user: "u", device: "d", session: "long", ts: $0.0, distance: $0.1) }
        _ = tracker.process(Array(samples.prefix(4)), now: Self.clock)
        let restored = try EffortTracker(snapshot: tracker.snapshot())
        #expect(restored == tracker)
        let records = tracker.finish(Array(samples.suffix(1)), at: Self.clock)
        #expect(records.map(\.millis) == [80_000])  // 1,000.000 m (to the millimetre) in 80 s, after the 49-day gap
    }

    /// Snapshots mid-session, with finished sessions' personal bests and open sessions of
    /// several users, restore to an equal tracker that sets the same records.
    @Test func trackerSurvivesASnapshotMidSession() throws {
        var tracker = EffortTracker(distances: [2000, 1000])
        let done = session(Array(repeating: 5, count: 50), user: "a")
        _ = tracker.finish(done, at: Self.clock)
        let from = done.last!.ts + 200_000
        let runs = (0..<3).map { session(Array(repeating: 5.5 + Double($0), count: 50), user: ["a", "b", "c"][$0], from: from) }
        for run in runs { _ = tracker.process(Array(run.prefix(25)), now: Self.clock + 3_600_000) }
        let bytes = tracker.snapshot()
        var restored = try EffortTracker(snapshot: bytes)
        #expect(restored == tracker)
        #expect(restored.snapshot().count == bytes.count)
        let rest = runs.flatMap { $0.dropFirst(25) }
        let a = tracker.finish(rest, at: Self.clock + 3_601_000)
        let b = restored.finish(rest, at: Self.clock + 3_601_000)
        #expect(a == b && a.count == 6)
        #expect(a.first { $0.user == "a" && $0.distance == 1000 }?.previousMillis == 200_000)
    }

    @Test func aDamagedSnapshotIsRefusedAndTheJSONOfEarlierVersionsStillReads() throws {
        var tracker = EffortTracker(distances: [1000])
        _ = tracker.process(Array(session(Array(repeating: 5, count: 20)).prefix(10)), now: Self.clock)
        let bytes = tracker.snapshot()
        for length in 0..<bytes.count {
            #expect(throws: StateReader.Corrupt.self) { try EffortTracker(snapshot: Array(bytes.prefix(length))) }
        }
        #expect(throws: StateReader.Corrupt.self) { try EffortTracker(snapshot: bytes + [0]) }
        #expect(try JSONDecoder().decode(EffortTracker.self, from: JSONEncoder().encode(tracker)) == tracker)
    }
}

extension EffortTracker {
    /// Samples arriving at `now`, then the clock passing the idle time: the records set.
    mutating func finish(_ samples: [TelemetrySample], at now: Int64) -> [Record] {
        process(samples, now: now) + process([], now: now + idleMillis)
    }
}
