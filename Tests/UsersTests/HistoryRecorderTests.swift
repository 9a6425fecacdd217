import Events
import Telemetry
import Testing
import Users

/// The telemetry history's pure parts: the raw sample chunk codec and the recorder's minutes,
/// checked against an independent oracle — the one-minute tumbling window operator the
/// pipelines run — and against sums computed here from the input.
@Suite struct HistoryRecorderTests {
    /// A deterministic generator, so failures reproduce.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    static func randomSample(_ g: inout Generator, user: String = "u-1", ts: Int64) -> TelemetrySample {
        var s = TelemetrySample(user: user, device: "watch-\(g.below(3))", session: "s-\(g.below(2))", ts: ts)
        if g.chance(70) { s.sport = ["run", "ride", "swim"][g.below(3)] }
        if g.chance(80) { s.distance = Double(g.below(100_000)) / 10 }
        if g.chance(80) { s.heartRate = Double(60 + g.below(140)) }
        if g.chance(50) { s.speed = Double(g.below(1000)) / 97 }
        if g.chance(40) { s.cadence = Double(g.below(200)) }
        if g.chance(30) { s.power = Double(g.below(500)) + 0.25 }
        if g.chance(50) { s.latitude = 55.75 + Double(g.below(10_000)) / 1e6 }
        if g.chance(50) { s.longitude = 37.61 - Double(g.below(10_000)) / 1e6 }
        if g.chance(40) { s.altitude = -20 + Double(g.below(3000)) / 7 }
        return s
    }

    @Test func chunksRoundTripEveryFieldCombination() throws {
        var g = Generator(state: 7)
        var builder = SampleChunkBuilder()
        var sent: [TelemetrySample] = []
        var ts: Int64 = 1_796_000_000_000
        for _ in 0..<2_000 {
            ts += Int64(g.below(4000)) - 1000  // out of order now and then
            let s = Self.randomSample(&g, ts: ts)
            builder.append(s)
            sent.append(s)
        }
        // Values no scaling gives back exactly, or that only look simple.
        for (i, v) in [-0.0, 1e300, 5e-324, 0.1 + 0.2, 55.7512345678, -1234.0005, 9.1e15].enumerated() {
            let s = TelemetrySample(
                user: "u-1", device: "edge", session: "e", ts: ts + Int64(i), distance: abs(v), heartRate: v, speed: v, latitude: v, longitude: -v)
            builder.append(s)
            sent.append(s)
        }
        let chunk = try #require(builder.build())
        #expect(chunk.count == 2_007)
        #expect(chunk.firstTs == sent.map(\.ts).min()!)
        #expect(chunk.lastTs == sent.map(\.ts).max()!)
        #expect(try chunk.samples(user: "u-1") == sent)
        // Compact: well under the ~200 bytes of a sample's JSON.
        #expect(chunk.bytes.count / chunk.count < 45, "\(chunk.bytes.count / chunk.count) bytes per sample")
        let decoded = try chunk.samples(user: "u-1")
        #expect(zip(decoded, sent).allSatisfy { $0.heartRate?.bitPattern == $1.heartRate?.bitPattern && $0.latitude?.bitPattern == $1.latitude?.bitPattern },
            "bit for bit, -0.0 included")
        #expect(SampleChunkBuilder().build() == nil)
    }

    /// Damaged bytes throw `Corrupt` or decode to something; they never crash or hang.
    @Test func damagedChunksNeverCrash() {
        var g = Generator(state: 11)
        var builder = SampleChunkBuilder()
        for i in 0..<50 { builder.append(Self.randomSample(&g, ts: Int64(i) * 1000)) }
        let good = builder.build()!.bytes
        var thrown = 0
        for round in 0..<3_000 {
            var bytes = good
            switch round % 3 {
            case 0: bytes = Array(bytes.prefix(g.below(bytes.count)))
            case 1: for _ in 0...g.below(4) { bytes[g.below(bytes.count)] = UInt8(g.below(256)) }
            default: bytes = (0..<g.below(64)).map { _ in UInt8(g.below(256)) }
            }
            do { _ = try SampleChunk(firstTs: 0, lastTs: 0, count: 0, bytes: bytes).samples(user: "u") } catch { thrown += 1 }
        }
        #expect(thrown > 1_000)
    }

    /// The minutes equal the one-minute windows of the window operator fed the same samples
    /// (out of order, repeated, late), their days the sums of their minutes, and the raw
    /// samples exactly those the operator accepted.
    @Test func minutesEqualTheWindowOperatorsAndDaysSumThem() throws {
        var settings = HistorySettings()
        settings.samplesFor = nil
        var recorder = HistoryRecorder(settings: settings)
        var oracle = WindowOperator(spec: WindowSpec(kind: .tumbling(size: 60_000), allowedLateness: settings.allowedLateness))
        var g = Generator(state: 3)
        var oracleMinutes: [String: [Int64: WindowAggregate]] = [:]
        var accepted: [String: [TelemetrySample]] = [:]
        let start: Int64 = 1_796_169_600_000 - 1_200_000  // 20 minutes before a UTC midnight
        var cursor = [Int64](repeating: start, count: 4)
        for _ in 0..<60 {
            var batch: [TelemetrySample] = []
            for _ in 0..<50 {
                let u = g.below(4)
                cursor[u] += Int64(1000 + g.below(3000))
                var ts = cursor[u]
                if g.chance(10) { ts -= Int64(g.below(600_000)) }  // late, some beyond the lateness
                var s = Self.randomSample(&g, user: "u-\(u)", ts: ts)
                s.device = "watch-\(u)"
                s.session = "s"
                s.distance = Double(ts - start) / 300
                batch.append(s)
                if g.chance(5) { batch.append(s) }  // repeated
            }
            recorder.record(batch, now: start)
            let output = oracle.process(batch, now: start)
            let refused = Set(output.refused)
            for (i, s) in batch.enumerated() where !refused.contains(i) { accepted[s.user, default: []].append(s) }
            for r in output.results { oracleMinutes[r.user, default: [:]][r.start] = r.aggregate }
        }
        var sealed: [Int64: Rollup] = [:]
        for batch in recorder.seal(now: start) {
            for row in batch.minutes where row.user == "u-1" { sealed[row.start] = row.rollup }
        }
        for u in 0..<4 {
            let user = "u-\(u)"
            let overlay = recorder.overlay(of: user).after(0)
            var expected = oracleMinutes[user] ?? [:]
            for w in oracle.currentWindows(of: user) { expected[w.start] = w.aggregate }
            #expect(overlay.minutes.count == expected.count)
            var samples = 0
            for (start, aggregate) in expected {
                let minute = try #require(overlay.minutes[start], "minute \(start) of \(user)")
                #expect(minute.samples == aggregate.samples)
                #expect(abs(minute.distance - aggregate.distance) < 1e-9)
                #expect(minute.movingMillis == aggregate.movingMillis)
                #expect(minute.heartRateCount == aggregate.heartRateCount)
                samples += minute.samples
            }
            #expect(samples > 500, "a test that counts nothing proves nothing")
            #expect(overlay.samples == accepted[user], "raw samples of \(user) are the accepted ones, in arrival order")
            let days = Rollup.days(of: overlay.minutes)
            #expect(days.count == 2, "the data crosses a UTC midnight")
            #expect(days.values.reduce(0) { $0 + $1.samples } == samples)
            #expect(abs(days.values.reduce(0) { $0 + $1.distance } - expected.values.reduce(0) { $0 + $1.distance }) < 1e-6)
        }
        #expect(!sealed.isEmpty)
    }

    /// Raw samples older than the retention at `now` are not kept; their minutes are.
    @Test func samplesBeyondTheRetentionAreNotKept() {
        var settings = HistorySettings()
        settings.samplesFor = 3_600_000
        var recorder = HistoryRecorder(settings: settings)
        let now: Int64 = 1_796_169_600_000
        let old = (0..<30).map { TelemetrySample(user: "u", device: "d", session: "s", ts: now - 7_200_000 + Int64($0) * 1000, distance: Double($0)) }
        let recent = (0..<30).map { TelemetrySample(user: "u", device: "d", session: "t", ts: now - 60_000 + Int64($0) * 1000, distance: Double($0)) }
        recorder.record(old + recent, now: now)
        let overlay = recorder.overlay(of: "u").after(0)
        #expect(overlay.samples == recent)
        #expect(overlay.minutes.values.reduce(0) { $0 + $1.samples } == 60)
    }

    /// Generations: a sealed batch stays (for the overlay and the next save) until confirmed;
    /// a read of storage at generation g sees only what is beyond it; a snapshot restores the
    /// generation counter and the minutes.
    @Test func sealConfirmOverlayAndSnapshot() throws {
        var recorder = HistoryRecorder(settings: HistorySettings())
        let now: Int64 = 1_796_169_600_000
        func batch(_ from: Int, _ n: Int) -> [TelemetrySample] {
            (from..<from + n).map { TelemetrySample(user: "u", device: "d", session: "s", ts: now + Int64($0) * 1000, distance: Double($0) * 3) }
        }
        recorder.record(batch(0, 100), now: now)
        let first = recorder.seal(now: now)
        #expect(first.map(\.generation) == [1])
        #expect(first[0].chunks.count == 1 && first[0].chunks[0].chunk.count == 100)
        recorder.record(batch(100, 50), now: now)
        let second = recorder.seal(now: now)
        #expect(second.map(\.generation) == [1, 2], "an unconfirmed batch is handed again")
        recorder.record(batch(150, 10), now: now)
        #expect(recorder.overlay(of: "u").after(0).samples.count == 160)
        #expect(recorder.overlay(of: "u").after(1).samples.count == 60)
        #expect(recorder.overlay(of: "u").after(2).samples.count == 10)
        recorder.confirm(through: 2)
        #expect(recorder.overlay(of: "u").after(0).samples.count == 10)
        #expect(recorder.seal(now: now).map(\.generation) == [3])
        #expect(recorder.seal(now: now).map(\.generation) == [3], "nothing new: no new generation")

        let restored = try HistoryRecorder(settings: HistorySettings(), snapshot: recorder.snapshot())
        #expect(restored.nextGeneration == recorder.nextGeneration)
        #expect(restored.overlay(of: "u").after(3).minutes == recorder.overlay(of: "u").after(3).minutes)
        #expect(!restored.overlay(of: "u").after(3).minutes.isEmpty)
        #expect(throws: (any Error).self) { try HistoryRecorder(settings: HistorySettings(), snapshot: [1, 2, 3]) }
    }

    /// The own minute operator is saved as one entry per user beside a small meta part, the
    /// users changed since the last capture only; meta and entries restore to the same minutes
    /// as the whole state of the earlier layout, and both go on equally.
    @Test func minutesAsEntriesRestoreAsTheWholeStateDoes() throws {
        var recorder = HistoryRecorder(settings: HistorySettings())
        let now: Int64 = 1_796_169_600_000
        func batch(_ user: String, _ from: Int, _ n: Int) -> [TelemetrySample] {
            (from..<from + n).map { TelemetrySample(user: user, device: "d", session: "s", ts: now + Int64($0) * 1000, distance: Double($0) * 3) }
        }
        recorder.record(batch("a", 0, 90) + batch("b", 0, 90), now: now)
        var stored: [String: [UInt8]] = [:]
        for user in recorder.takeChangedMinuteUsers() { stored[user] = recorder.minuteEntry(of: user) }
        #expect(stored.keys.sorted() == ["a", "b"])
        recorder.record(batch("b", 90, 40), now: now)
        #expect(recorder.seal(now: now).map(\.generation) == [1])  // as at a snapshot: what closed goes with it
        let changed = recorder.takeChangedMinuteUsers()
        #expect(changed == ["b"], "only the user who sent since")
        for user in changed { stored[user] = recorder.minuteEntry(of: user) }
        #expect(recorder.minuteEntries().count == 2)

        let fromEntries = try HistoryRecorder(
            settings: HistorySettings(), snapshot: recorder.meta(), minuteEntries: stored.map { (key: $0.key, entry: $0.value) })
        let fromWhole = try HistoryRecorder(settings: HistorySettings(), snapshot: recorder.snapshot())
        #expect(HistoryRecorder.isMeta(recorder.meta()) && !HistoryRecorder.isMeta(recorder.snapshot()))
        for user in ["a", "b"] {
            let open = recorder.overlay(of: user).after(1).minutes
            #expect(!open.isEmpty)
            #expect(fromEntries.overlay(of: user).after(1).minutes == open)
            #expect(fromWhole.overlay(of: user).after(1).minutes == open)
        }
        // Both go on as the original does.
        var copies = [recorder, fromEntries, fromWhole]
        for i in copies.indices { copies[i].record(batch("a", 90, 100), now: now) }
        let minutes = copies.map { $0.overlay(of: "a").after(1).minutes }
        #expect(minutes[0].count >= 3, "\(minutes[0].keys.sorted())")
        #expect(minutes[1] == minutes[0])
        #expect(minutes[2] == minutes[0])
        // With shared minutes there is no operator, and the meta restores without entries.
        let shared = HistoryRecorder(settings: HistorySettings(), sharedMinutes: true)
        #expect(try HistoryRecorder(settings: HistorySettings(), sharedMinutes: true, snapshot: shared.meta()).sharesMinutes)
        #expect(throws: (any Error).self) { try HistoryRecorder(settings: HistorySettings(), snapshot: recorder.meta() + [0]) }
    }
}
