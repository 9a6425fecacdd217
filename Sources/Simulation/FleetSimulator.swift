#if canImport(Glibc)
import Glibc
#endif

/// A realistic fleet of devices streaming telemetry: each user runs a GPS track at a
/// varying pace with a heart-rate curve, a cumulative distance counter and sessions, and
/// the network loses, repeats and reorders a configurable share of samples.
///
/// Deterministic for a given seed, so tests and benchmarks can replay the same stream.
public struct FleetSimulator {
    /// Shape of the fleet and of its network faults.
    public struct Options: Sendable {
        public var users = 100
        /// Event time of the first tick, epoch ms.
        public var startTs: Int64 = 1_764_237_600_000
        /// Event time between a device's samples, ms.
        public var sampleInterval: Int64 = 1_000
        /// Samples per session before the device starts a new one.
        public var samplesPerSession = 1_800
        /// Share of samples never sent.
        public var lossRate = 0.0
        /// Share of samples sent twice.
        public var duplicateRate = 0.0
        /// Share of samples swapped with the next one.
        public var reorderRate = 0.0
        public var seed: UInt64 = 1
        /// Runners in groups of this many (users in order), each following its group's first
        /// runner at a fixed offset of up to 40 m; nil: everyone runs alone.
        public var groupSizes: ClosedRange<Int>?

        public init() {}
    }

    struct Runner {
        var lat: Double
        var lon: Double
        var alt: Double
        var heading: Double
        var pace: Double
        var distance = 0.0
        var tick = 0
        var session = 0
        /// The group's first runner, for a follower, and the offset from them in metres.
        var leader: Int?
        var east = 0.0
        var north = 0.0
    }

    /// The groups of runners: the users of each, in order (empty without ``Options/groupSizes``).
    public private(set) var groups: [Range<Int>] = []

    public let options: Options
    private var runners: [Runner] = []
    private var rng: SplitMix
    private var tick = 0
    private var held: [UInt8]?

    public init(options: Options) {
        self.options = options
        rng = SplitMix(seed: options.seed)
        for _ in 0..<options.users {
            runners.append(
                Runner(
                    lat: 55.75 + rng.uniform(-0.1, 0.1), lon: 37.61 + rng.uniform(-0.1, 0.1), alt: rng.uniform(120, 180),
                    heading: rng.uniform(0, 2 * .pi), pace: rng.uniform(2.4, 4.2)))
        }
        guard let sizes = options.groupSizes else { return }
        var first = 0
        while first < options.users {
            let end = min(options.users, first + Int(rng.uniform(Double(sizes.lowerBound), Double(sizes.upperBound) + 1)))
            for follower in (first + 1)..<max(first + 1, end) {
                runners[follower].leader = first
                runners[follower].east = rng.uniform(-40, 40)
                runners[follower].north = rng.uniform(-40, 40)
            }
            groups.append(first..<end)
            first = end
        }
    }

    /// Where `user` is now (before the first sample: where they start), degrees.
    public func position(of user: Int) -> (latitude: Double, longitude: Double) { (runners[user].lat, runners[user].lon) }

    /// The next frames to send (usually one; none for a lost sample, two for a repeat).
    public mutating func nextFrames() -> [[UInt8]] {
        let user = tick % options.users
        let round = tick / options.users
        tick += 1
        var r = runners[user]
        defer { runners[user] = r }
        if r.tick > 0 && r.tick % options.samplesPerSession == 0 {
            r.session += 1
            r.distance = 0
        }
        let dt = Double(options.sampleInterval) / 1000
        var speed = max(0, r.pace + rng.uniform(-0.3, 0.3))
        if let leader = r.leader {
            // The leader moved earlier in this round: keep the offset from them.
            let l = runners[leader]
            speed = l.pace
            r.lat = l.lat + r.north / 111_320
            r.lon = l.lon + r.east / (111_320 * cos(l.lat * .pi / 180))
            r.distance += speed * dt
        } else {
            r.distance += speed * dt
            r.heading += rng.uniform(-0.15, 0.15)
            r.lat += cos(r.heading) * speed * dt / 111_320
            r.lon += sin(r.heading) * speed * dt / (111_320 * cos(r.lat * .pi / 180))
        }
        r.alt += rng.uniform(-0.6, 0.6)
        let warmup = min(1, Double(r.tick % options.samplesPerSession) / 300)
        let hr = (100 + 55 * warmup + 8 * sin(Double(r.tick) / 40) + rng.uniform(-3, 3)).rounded()
        let ts = options.startTs + Int64(round) * options.sampleInterval
        r.tick += 1
        let frame = Array(
            """
            {"type":"telemetry","user":"u-\(user)","device":"dev-\(user)","session":"s-\(user)-\(r.session)",\
            "ts":\(ts),"sport":"run","distance_m":\(fixed(r.distance, 1)),"hr":\(Int(hr)),"speed_mps":\(fixed(speed, 2)),\
            "cadence":\(Int(160 + speed * 4)),"lat":\(fixed(r.lat, 6)),"lon":\(fixed(r.lon, 6)),"alt_m":\(fixed(r.alt, 1))}
            """.utf8)
        if rng.chance(options.lossRate) { return [] }
        var out: [[UInt8]] = []
        if let previous = held {
            held = nil
            out = [frame, previous]
        } else if rng.chance(options.reorderRate) {
            held = frame
            return []
        } else {
            out = [frame]
        }
        if rng.chance(options.duplicateRate) { out.append(out[0]) }
        return out
    }

    /// A frame held back for reordering, to send at the end of a stream.
    public mutating func flush() -> [[UInt8]] {
        defer { held = nil }
        return held.map { [$0] } ?? []
    }

    private func fixed(_ value: Double, _ digits: Int) -> String {
        let scale = pow(10, Double(digits))
        let scaled = (value * scale).rounded()
        return String(scaled / scale)
    }
}
