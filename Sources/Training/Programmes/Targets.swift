/// What a step of a programme asks of a workout: any of a duration, a distance, repetitions,
/// a pace or a heart-rate zone (the contract's `targets`). A workout meets them when it
/// reaches every one within 5 % (``tolerance``).
public struct Targets: Sendable, Equatable, Codable {
    public var durationSeconds: Double?
    public var distanceMeters: Double?
    public var reps: Int?
    /// The slowest pace that meets the target, seconds per kilometre.
    public var paceSecondsPerKm: Double?
    /// Heart-rate zone 1…5 of the user's maximum heart rate (see ``zoneBounds``).
    public var hrZone: Int?

    public init(
        durationSeconds: Double? = nil, distanceMeters: Double? = nil, reps: Int? = nil, paceSecondsPerKm: Double? = nil,
        hrZone: Int? = nil
    ) {
        self.durationSeconds = durationSeconds
        self.distanceMeters = distanceMeters
        self.reps = reps
        self.paceSecondsPerKm = paceSecondsPerKm
        self.hrZone = hrZone
    }

    /// The contract's key of each target, in the order in which the first one present names
    /// a step's measured result.
    public enum Kind: String, CaseIterable, Sendable, Codable {
        case paceSecondsPerKm = "pace_s_per_km"
        case distanceMeters = "distance_m"
        case durationSeconds = "duration_s"
        case reps = "reps"
        case hrZone = "hr_zone"

        /// Whether a lower result is the better one (a faster pace, a heart rate nearer the
        /// zone's middle); for the others more is better.
        public var lowerIsBetter: Bool { self == .paceSecondsPerKm || self == .hrZone }
    }

    public var isEmpty: Bool { self == Targets() }

    /// The step's principal target: what its `result` measures and its percentile compares.
    /// Without targets, the duration.
    public var principal: Kind {
        if paceSecondsPerKm != nil { return .paceSecondsPerKm }
        if distanceMeters != nil { return .distanceMeters }
        if durationSeconds != nil { return .durationSeconds }
        if reps != nil { return .reps }
        if hrZone != nil { return .hrZone }
        return .durationSeconds
    }

    /// These targets with every target `overrides` sets replaced.
    public func overridden(by overrides: Targets) -> Targets {
        Targets(
            durationSeconds: overrides.durationSeconds ?? durationSeconds, distanceMeters: overrides.distanceMeters ?? distanceMeters,
            reps: overrides.reps ?? reps, paceSecondsPerKm: overrides.paceSecondsPerKm ?? paceSecondsPerKm,
            hrZone: overrides.hrZone ?? hrZone)
    }

    /// How far short of a target a workout may stay and still meet it.
    public static let tolerance = 0.05

    /// Zone bounds as fractions of the maximum heart rate: zone 1 is 50–60 %, … zone 5 90–100 %.
    public static func zoneBounds(_ zone: Int) -> ClosedRange<Double> {
        let low = 0.4 + 0.1 * Double(zone)
        return low...(low + 0.1)
    }

    /// The maximum heart rate assumed for a user whose workouts never reported one.
    public static let defaultMaxHeartRate = 190.0

    /// Whether `workout` meets every target, and the measured value of the principal one.
    /// - Parameter maxHeartRate: the user's maximum heart rate, for a zone target.
    public func measure(_ workout: Workout, maxHeartRate: Double) -> (met: Bool, result: Double?) {
        let seconds = Double(workout.durationMillis) / 1000
        let pace = workout.distance > 0 ? Double(workout.movingMillis) / 1000 / (workout.distance / 1000) : nil
        let zone = workout.averageHeartRate.map { ($0 / maxHeartRate - 0.4) * 10 }
        var met = true
        if let target = durationSeconds, seconds < target * (1 - Self.tolerance) { met = false }
        if let target = distanceMeters, workout.distance < target * (1 - Self.tolerance) { met = false }
        if let target = reps, Double(workout.reps ?? 0) < Double(target) * (1 - Self.tolerance) { met = false }
        if let target = paceSecondsPerKm, (pace ?? .infinity) > target * (1 + Self.tolerance) { met = false }
        if let target = hrZone {
            let bounds = Self.zoneBounds(target)
            let heartRate = workout.averageHeartRate ?? 0
            let fraction = heartRate / maxHeartRate
            if fraction < bounds.lowerBound * (1 - Self.tolerance) || fraction > bounds.upperBound * (1 + Self.tolerance) { met = false }
        }
        let result: Double? =
            switch principal {
            case .paceSecondsPerKm: pace
            case .distanceMeters: workout.distance
            case .durationSeconds: seconds
            case .reps: workout.reps.map(Double.init)
            case .hrZone: zone.map { ($0 * 100).rounded() / 100 }
            }
        return (met, result.map { ($0 * 1000).rounded() / 1000 })
    }
}
