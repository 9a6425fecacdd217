import ClubKernel
import Events
import Foundation
import Testing

@testable import Community

@Suite struct TogetherDetectorTests {
    static let t0 = CommunityStateTests.t0
    let config = CommunityConfig()

    /// A 30-minute run north at 3 m/s from (55.75, 37.61 + `east` metres), a sample every 2 s,
    /// starting `delay` after t0.
    static func run(_ user: String, east: Double = 0, delay: Int64 = 0, minutes: Int = 30, north: Double = 0) -> [TelemetrySample] {
        (0..<(minutes * 30)).map { i in
            let n = north + 3 * Double(i * 2)
            return TelemetrySample(
                user: user, device: "d", session: "s-\(user)", ts: t0 + delay + Int64(i) * 2000,
                latitude: 55.75 + n / 111_195, longitude: 37.61 + east / (111_195 * cos(55.75 * .pi / 180)))
        }
    }

    func decide(_ runs: [[TelemetrySample]]) -> [ActivityEvent] {
        var d = TogetherDetector()
        // Interleaved by time, as a live stream delivers them.
        let samples = runs.flatMap { $0 }.sorted { $0.ts < $1.ts }
        for chunk in stride(from: 0, to: samples.count, by: 100) {
            d.observe(Array(samples[chunk..<min(chunk + 100, samples.count)]), config: config, now: 0)
        }
        #expect(d.due(now: config.togetherIdleMillis - 1, config: config).isEmpty, "tracks still active")
        return d.due(now: config.togetherIdleMillis, config: config)
    }

    @Test func parallelThirtyMetresApartRanTogether() throws {
        let events = decide([Self.run("ann"), Self.run("bob", east: 30)])
        let e = try #require(events.first)
        #expect(events.count == 1)
        #expect(e.type == "community.ran_together" && e.body["users"]?.arrayValue?.compactMap(\.stringValue) == ["ann", "bob"])
        #expect((e.body["overlap_s"]?.int64Value ?? 0) >= 29 * 60)
        #expect((5000...5600).contains(e.body["distance_m"]?.doubleValue ?? 0), "\(e.body["distance_m"]!)")
    }

    @Test func theSameRouteTenMinutesApartIsNotTogether() {
        #expect(decide([Self.run("ann"), Self.run("bob", delay: 10 * 60_000)]).isEmpty)
    }

    @Test func crossingOnceIsNotTogether() {
        // Bob runs east across Ann's route, meeting her once in the middle.
        let bob = (0..<900).map { i in
            TelemetrySample(
                user: "bob", device: "d", session: "s-bob", ts: Self.t0 + Int64(i) * 2000,
                latitude: 55.75 + 2700 / 111_195, longitude: 37.61 + (-2700 + 6 * Double(i)) / (111_195 * cos(55.75 * .pi / 180)))
        }
        #expect(decide([Self.run("ann"), bob]).isEmpty)
    }

    @Test func threeRunnersMakeOneEvent() {
        let events = decide([Self.run("cat"), Self.run("ann", east: 20), Self.run("bob", east: 40), Self.run("far", east: 3000)])
        #expect(events.count == 1)
        #expect(events.first?.body["users"]?.arrayValue?.compactMap(\.stringValue) == ["ann", "bob", "cat"])
    }

    @Test func tooShortAnOverlapIsNotTogether() {
        #expect(decide([Self.run("ann", minutes: 8), Self.run("bob", east: 10, minutes: 8)]).isEmpty)
    }

    /// A snapshot in the middle of a run: tracks and pairs come back (their lookups rebuilt),
    /// the rest of the run goes on counting, and the group is found.
    @Test func aSnapshotInTheMiddleKeepsTheRun() throws {
        var d = TogetherDetector()
        let samples = (Self.run("ann") + Self.run("bob", east: 30)).sorted { $0.ts < $1.ts }
        let half = samples.count / 2
        d.observe(Array(samples[..<half]), config: config, now: 0)
        var restored = try JSONDecoder().decode(TogetherDetector.self, from: JSONEncoder().encode(d))
        #expect(restored.trackCount == 2 && restored.pairCount == 1 && restored.positionCount == 0)
        restored.observe(Array(samples[half...]), config: config, now: 0)
        #expect(restored.trackCount == 2, "the tracks are found again by user, device and session")
        let events = restored.due(now: config.togetherIdleMillis, config: config)
        #expect(events.map { $0.body["users"]?.arrayValue?.compactMap(\.stringValue) } == [["ann", "bob"]])
    }

    @Test func stateIsBoundedAfterTheDecision() {
        var d = TogetherDetector()
        d.observe(Self.run("ann") + Self.run("bob", east: 30), config: config, now: 0)
        #expect(d.pairCount == 1 && d.trackCount == 2 && d.positionCount > 0)
        _ = d.due(now: config.togetherLatenessMillis, config: config)
        #expect(d.pairCount == 0 && d.trackCount == 0 && d.positionCount == 0)
    }
}
