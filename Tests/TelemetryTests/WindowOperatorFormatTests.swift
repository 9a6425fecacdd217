import ClubKernel
import Events
import Telemetry
import Testing

/// Snapshots of the earlier layout (whole-state version 4, entries version 1: every point with
/// its speed and its stored contribution) still restore, and continue exactly as an
/// uninterrupted operator does. The earlier bytes are made here by rewriting the current ones
/// in the old layout, with contributions of zero: the restore must compute them again, not
/// trust them.
@Suite struct WindowOperatorFormatTests {
    static let spec = WindowSpec(kind: .tumbling(size: minute), allowedLateness: minute, outOfOrderness: 3_000)

    /// Three users with speed (moving and standing), altitude, gaps, reordering and duplicates.
    static func stream() -> [TelemetrySample] {
        var rng = SeededGenerator(seed: 7)
        var stream: [TelemetrySample] = []
        for user in 0..<3 {
            var distance = 0.0
            for i in 0..<400 {
                let still = (i / 40) % 3 == 2
                distance += still ? 0 : Double.random(in: 1...20, using: &rng)
                let ts = t0 + Int64(i) * 1_000 + (i > 200 ? 45_000 : 0)
                guard Int.random(in: 0..<15, using: &rng) != 0 else { continue }
                stream.append(
                    sample(ts, i % 5 == 0 ? nil : distance.rounded(), user: "u\(user)", speed: i % 4 == 0 ? nil : (still ? 0.1 : 3.2),
                           alt: i % 3 == 0 ? nil : 100 + Double(i % 17)))
                if Int.random(in: 0..<25, using: &rng) == 0 { stream.append(stream.last!) }
            }
        }
        stream.sort { $0.ts < $1.ts }
        for i in stride(from: 0, to: stream.count - 4, by: 5) where Bool.random(using: &rng) { stream.swapAt(i, i + 3) }
        // Late ones: about 80 s of event time behind, within the lateness of their emitted window.
        for i in stride(from: 0, to: stream.count - 300, by: 11) { stream.insert(stream.remove(at: i), at: i + 250) }
        return stream
    }

    @Test func theEarlierLayoutRestoresWholeAndAsEntries() throws {
        let stream = Self.stream()
        var whole = WindowOperator(spec: Self.spec)
        let expected = stream.chunks(of: 50).flatMap { whole.process($0).results } + whole.tick(now: Self.spec.idleTimeout).results
        #expect(expected.contains { $0.isUpdate }, "late samples corrected emitted windows")
        #expect(expected.contains { $0.aggregate.movingMillis > 0 && $0.aggregate.elevationGain > 0 })

        // At batch boundaries: a batch emits its updates once, at its end.
        for cut in [stream.count / 3, stream.count / 2, stream.count * 4 / 5].map({ $0 / 50 * 50 }) {
            var first = WindowOperator(spec: Self.spec)
            let before = stream[..<cut].chunks(of: 50).flatMap { first.process($0).results }
            let fromWhole = try WindowOperator(spec: Self.spec, snapshot: try Self.downgrade(first.snapshot()))
            let oldEntries = try first.entries().map { (key: $0.key, entry: try Self.downgradeEntry($0.entry)) }
            let fromEntries = try WindowOperator(spec: Self.spec, entries: oldEntries)
            #expect(fromWhole.userCount == 3 && fromEntries.userCount == 3)
            let current = try WindowOperator(spec: Self.spec, snapshot: first.snapshot())
            for (n, var restored) in [current, fromWhole, fromEntries].enumerated() {
                let got = before + stream[cut...].chunks(of: 50).flatMap { restored.process($0).results }
                    + restored.tick(now: Self.spec.idleTimeout).results
                let diff = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                #expect(got.count == expected.count && diff == nil, "cut at \(cut), restored from \(["the current layout", "a whole snapshot", "entries"][n]): first difference at \(diff ?? -1)")
            }
        }
    }

    // MARK: The earlier layout, written from the current one

    static func downgrade(_ bytes: [UInt8]) throws -> [UInt8] {
        var r = StateReader(bytes)
        var w = StateWriter()
        #expect(try r.readInt64() == 5)
        w.write(Int64(4))
        let users = try r.readInt()
        w.write(users)
        for _ in 0..<users {
            w.write(try r.readString())
            try copyUser(&r, &w)
        }
        #expect(r.isAtEnd)
        return w.bytes
    }

    static func downgradeEntry(_ bytes: [UInt8]) throws -> [UInt8] {
        var r = StateReader(bytes)
        var w = StateWriter()
        #expect(try r.readInt64() == 2)
        w.write(Int64(1))
        try copyUser(&r, &w)
        #expect(r.isAtEnd)
        return w.bytes
    }

    /// One user: the same fields, but each point as (ts, distance?, altitude?, speed?,
    /// contribution) — a speed on the right side of the spec's moving speed, a zero contribution.
    static func copyUser(_ r: inout StateReader, _ w: inout StateWriter) throws {
        for _ in 0..<3 { w.write(try r.readInt64()) }  // maxTs, lastArrival, closedThrough
        let windows = try r.readInt()
        w.write(windows)
        for _ in 0..<windows {
            w.write(try r.readInt64())
            w.write(try r.readInt64())
            w.write(try r.readBool())
            w.write(try r.readBool())
            for _ in 0..<15 { w.write(try r.readInt64()) }  // the aggregate's sums, counts and times
            w.write(try r.readString())
            w.write(try r.readInt64())
        }
        let series = try r.readInt()
        w.write(series)
        for _ in 0..<series {
            w.write(try r.readString())
            w.write(try r.readString())
            w.write(try r.readOptionalInt64())
            w.write(try r.readOptionalDouble())
            w.write(try r.readOptionalDouble())
            w.write(try r.readInt64())
            let points = try r.readInt()
            w.write(points)
            for _ in 0..<points {
                let packed = try r.readInt64()
                w.write(packed >> 2)
                w.write(try r.readOptionalDouble())
                w.write(try r.readOptionalDouble())
                let speed: Double? = switch packed & 3 {
                case 1: spec.minMovingSpeed / 2
                case 2: spec.minMovingSpeed * 2
                default: nil
                }
                w.write(speed)
                w.write(0.0)
                w.write(Int64(0))
                w.write(0.0)
            }
        }
    }
}
