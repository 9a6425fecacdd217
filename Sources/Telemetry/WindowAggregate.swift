import Events

/// The aggregates of one window: sums that can be corrected when a late sample arrives.
public struct WindowAggregate: Sendable, Equatable {
    public var samples = 0
    /// Metres, by the contract's cumulative-counter rule.
    public var distance = 0.0
    public var movingMillis: Int64 = 0
    public var elevationGain = 0.0
    public var heartRateSum = 0.0
    public var heartRateCount = 0
    public var heartRateMax = 0.0
    public var speedSum = 0.0
    public var speedCount = 0
    public var cadenceSum = 0.0
    public var cadenceCount = 0
    public var powerSum = 0.0
    public var powerCount = 0
    public var firstTs = Int64.max
    public var lastTs = Int64.min
    /// The sport of the window's earliest sample that names one.
    public var sport: String?
    /// Event time of the sample `sport` came from.
    var sportTs = Int64.max

    public init() {}

    public var averageHeartRate: Double? { heartRateCount > 0 ? heartRateSum / Double(heartRateCount) : nil }
    public var averageSpeed: Double? { speedCount > 0 ? speedSum / Double(speedCount) : nil }
    public var averageCadence: Double? { cadenceCount > 0 ? cadenceSum / Double(cadenceCount) : nil }
    public var averagePower: Double? { powerCount > 0 ? powerSum / Double(powerCount) : nil }

    /// Adds a sample's own measurements (not its deltas).
    mutating func add(_ sample: TelemetrySample) {
        samples += 1
        firstTs = min(firstTs, sample.ts)
        lastTs = max(lastTs, sample.ts)
        if let sport = sample.sport, sample.ts < sportTs {
            self.sport = sport
            sportTs = sample.ts
        }
        if let hr = sample.heartRate {
            heartRateSum += hr
            heartRateCount += 1
            heartRateMax = max(heartRateMax, hr)
        }
        if let v = sample.speed { speedSum += v; speedCount += 1 }
        if let v = sample.cadence { cadenceSum += v; cadenceCount += 1 }
        if let v = sample.power { powerSum += v; powerCount += 1 }
    }

    /// Adds (or, with a negated value, removes) a sample's deltas.
    mutating func apply(_ c: Contribution) {
        distance += c.distance
        movingMillis += c.movingMillis
        elevationGain += c.elevationGain
    }

    /// Combines two windows that became one (session windows bridged by a late sample).
    mutating func merge(_ o: WindowAggregate) {
        samples += o.samples
        distance += o.distance
        movingMillis += o.movingMillis
        elevationGain += o.elevationGain
        heartRateSum += o.heartRateSum
        heartRateCount += o.heartRateCount
        heartRateMax = max(heartRateMax, o.heartRateMax)
        speedSum += o.speedSum
        speedCount += o.speedCount
        cadenceSum += o.cadenceSum
        cadenceCount += o.cadenceCount
        powerSum += o.powerSum
        powerCount += o.powerCount
        firstTs = min(firstTs, o.firstTs)
        lastTs = max(lastTs, o.lastTs)
        if o.sportTs < sportTs {
            sport = o.sport
            sportTs = o.sportTs
        }
    }
}

/// What a sample adds relative to its predecessor in its device session.
struct Contribution: Equatable {
    var distance = 0.0
    var movingMillis: Int64 = 0
    var elevationGain = 0.0

    static prefix func - (c: Contribution) -> Contribution {
        Contribution(distance: -c.distance, movingMillis: -c.movingMillis, elevationGain: -c.elevationGain)
    }

    static func - (a: Contribution, b: Contribution) -> Contribution {
        Contribution(
            distance: a.distance - b.distance, movingMillis: a.movingMillis - b.movingMillis,
            elevationGain: a.elevationGain - b.elevationGain)
    }
}
