import Definitions

/// How finished workouts are compared with their cohort: the distance bands, the scope and
/// the rolling period (the `comparisons` key of the leaderboards file).
public struct ComparisonSpec: Sendable, Equatable {
    public struct Band: Sendable, Equatable {
        public let name: String
        /// Distance in metres, `[min, max)`.
        public let min: Double
        public let max: Double
    }

    public var bands = [
        Band(name: "5k", min: 5000, max: 5500), Band(name: "10k", min: 10000, max: 11000),
        Band(name: "half_marathon", min: 21097.5, max: 22500), Band(name: "marathon", min: 42195, max: 44500),
    ]
    /// Compare within everyone, or within the user's region.
    public var byRegion = false
    public var rollingMillis: Int64 = 90 * 86_400_000
    /// Windows of up to this many results are ranked by a scan; larger ones by the cohort's
    /// sorted durations (both exact).
    public var exactUpTo = 1000

    public init() {}

    /// The band holding `distance`, if any.
    public func band(of distance: Double) -> Band? { bands.first { distance >= $0.min && distance < $0.max } }

    static func parse(_ m: inout YAMLMapping) -> ComparisonSpec {
        var spec = ComparisonSpec()
        if let node = m.node("bands") {
            var bands: [Band] = []
            for item in node.array() {
                var band = YAMLMapping(file: m.file, node: item)
                let name = band.string("name", required: true) ?? ""
                let low = band.double("min", default: -1, in: 0...1e7)
                let high = band.double("max", default: -1, in: 0...1e7)
                if band.has("min"), band.has("max"), low >= high { band.fail("a band's 'min' must be below its 'max'") }
                if !name.isEmpty, low >= 0, high > low { bands.append(Band(name: name, min: low, max: high)) }
                m.absorb(band)
            }
            if bands.isEmpty { m.fail("'bands' is a list of {name, min, max} in metres", at: node) }
            spec.bands = bands
        }
        if let scope = m.string("scope") {
            switch scope {
            case "everyone": spec.byRegion = false
            case "region": spec.byRegion = true
            default: m.fail("'scope' of comparisons is everyone or region", at: m.node("scope"))
            }
        }
        spec.rollingMillis = m.duration("rolling", default: spec.rollingMillis, min: 86_400_000)
        spec.exactUpTo = m.int("exact_up_to", default: spec.exactUpTo, in: 1...1_000_000)
        return spec
    }
}

/// A finished workout compared with its cohort, as published on `comparison.<user>`.
public struct Comparison: Sendable, Equatable {
    public let workout: Workout
    public let band: String
    /// `all`, or the user's region.
    public let scope: String
    public let rank: Int
    /// This result and the others'.
    public let cohortSize: Int
    /// Share of the others' results this one beats, 0…100 (100 with no others).
    public let percentile: Double
    public let medianSeconds: Double?
    public let bestSeconds: Double?
    /// The median is exact: always true since cohorts rank from sorted durations (the field
    /// stays for readers of the `comparison.<user>` payload).
    public let exact: Bool
    /// The user's best in this band and sport before this workout.
    public let personalBestSeconds: Double?

    public var seconds: Double { Double(workout.durationMillis) / 1000 }
}
