import ClubKernel
import Events
import JSON

/// A finished workout, from a device or an external system (the contract's `workout` event).
public struct Workout: Sendable, Equatable, Codable {
    public let id: String
    public let user: String
    /// `device` or the external system it was imported from.
    public let source: String
    public let sport: String
    /// Start, epoch milliseconds.
    public let start: Int64
    public let durationMillis: Int64
    public let distance: Double
    /// Time in motion; the duration when the source does not say.
    public let movingMillis: Int64
    public let elevationGain: Double
    /// The equipment used (a shoe, a bike), as the source names it.
    public let gear: String?
    public let averageHeartRate: Double?
    public let maxHeartRate: Double?
    /// Samples recorded, when the source says (imported files, device sessions).
    public let samples: Int?
    /// Repetitions, for strength workouts (an extension of the contract's `workout`: `reps`).
    public let reps: Int?
    /// Offset of the event in the activity log: which of two copies arrived first.
    public let offset: Int64

    public var end: Int64 { start + durationMillis }

    public init(
        id: String, user: String, source: String, sport: String, start: Int64, durationMillis: Int64, distance: Double = 0,
        movingMillis: Int64? = nil, elevationGain: Double = 0, gear: String? = nil, averageHeartRate: Double? = nil,
        maxHeartRate: Double? = nil, samples: Int? = nil, reps: Int? = nil, offset: Int64 = 0
    ) {
        self.id = id
        self.user = user
        self.source = source
        self.sport = sport
        self.start = start
        self.durationMillis = durationMillis
        self.distance = distance
        self.movingMillis = movingMillis ?? durationMillis
        self.elevationGain = elevationGain
        self.gear = gear
        self.averageHeartRate = averageHeartRate
        self.maxHeartRate = maxHeartRate
        self.samples = samples
        self.reps = reps
        self.offset = offset
    }

    /// Reads a `workout` event's fields, or the Strava activity it carries under `activity`
    /// (see ``fromStrava(_:offset:)``).
    /// - Returns: the workout, or why the event is not a usable workout.
    public static func from(_ body: JSONObject, offset: Int64) -> Result<Workout, FieldError> {
        if case .object(let activity)? = body["activity"] { return fromStrava(body, activity: activity, offset: offset) }
        func text(_ key: String) -> String? { body[key]?.stringValue }
        guard let id = text("id"), let user = text("user") else { return .failure(FieldError(.missingField, "missing 'id' or 'user'")) }
        guard let source = text("source"), !source.isEmpty else { return .failure(FieldError(.missingField, "missing required field 'source'")) }
        guard let sport = text("sport"), !sport.isEmpty else { return .failure(FieldError(.missingField, "missing required field 'sport'")) }
        guard let startValue = body["start"] else { return .failure(FieldError(.missingField, "missing required field 'start'")) }
        guard let start = EventTime.millis(startValue) else {
            return .failure(FieldError(.invalidTimestamp, "field 'start' must be epoch milliseconds or an RFC 3339 time"))
        }
        guard let seconds = body["duration_s"]?.doubleValue, seconds > 0, seconds <= 7 * 86_400 else {
            return .failure(FieldError(.outOfRange, "field 'duration_s' must be a number of seconds in 0...604800, above 0"))
        }
        let distance = body["distance_m"]?.doubleValue ?? 0
        let gain = body["elevation_gain_m"]?.doubleValue ?? 0
        guard distance >= 0, distance <= 1e7, gain >= 0, gain <= 1e5 else {
            return .failure(FieldError(.outOfRange, "fields 'distance_m' and 'elevation_gain_m' must be non-negative and plausible"))
        }
        let reps = body["reps"]?.int64Value
        guard reps.map({ $0 >= 0 && $0 <= 100_000 }) ?? true else {
            return .failure(FieldError(.outOfRange, "field 'reps' must be a whole number of repetitions in 0...100000"))
        }
        let moving = body["moving_time_s"]?.doubleValue.map { Int64(min(max($0, 0), seconds) * 1000) }
        return .success(
            Workout(
                id: id, user: user, source: source, sport: sport, start: start, durationMillis: Int64(seconds * 1000),
                distance: distance, movingMillis: moving, elevationGain: gain, gear: text("gear"),
                averageHeartRate: body["avg_hr"]?.doubleValue, maxHeartRate: body["max_hr"]?.doubleValue,
                samples: body["samples"]?.int64Value.map { Int($0) }, reps: reps.map { Int($0) }, offset: offset))
    }

    /// A workout event carrying a Strava activity as Strava's API and webhooks deliver it
    /// (`{"type":"workout","id":…,"user":…,"source":"strava","activity":{…}}`): `start_date`,
    /// `elapsed_time`, `moving_time`, `distance`, `total_elevation_gain`, `average_heartrate`,
    /// `max_heartrate`, `sport_type` (or `type`) and `gear_id` map onto the contract's fields.
    static func fromStrava(_ body: JSONObject, activity: JSONObject, offset: Int64) -> Result<Workout, FieldError> {
        var mapped = body
        mapped["activity"] = nil
        let sport = (activity["sport_type"] ?? activity["type"])?.stringValue ?? "other"
        let fields: [(String, JSONValue?)] = [
            ("start", activity["start_date"]), ("duration_s", activity["elapsed_time"]), ("moving_time_s", activity["moving_time"]),
            ("distance_m", activity["distance"]), ("elevation_gain_m", activity["total_elevation_gain"]),
            ("avg_hr", activity["average_heartrate"]), ("max_hr", activity["max_heartrate"]), ("gear", activity["gear_id"]),
            ("sport", .string(stravaSports[sport] ?? sport.lowercased())),
        ]
        for (key, value) in fields where mapped[key] == nil { mapped[key] = value }
        return from(mapped, offset: offset)
    }

    /// Strava's `sport_type` names as the club names sports.
    static let stravaSports = [
        "Run": "run", "TrailRun": "run", "VirtualRun": "run", "Ride": "ride", "VirtualRide": "ride", "MountainBikeRide": "ride",
        "GravelRide": "ride", "EBikeRide": "ride", "Walk": "walk", "Hike": "hike", "Swim": "swim", "Rowing": "row",
    ]

    /// The source of workouts derived from device telemetry sessions.
    public static let telemetrySource = "telemetry"

    /// A workout derived from a device session that a window pipeline raised (the members
    /// of a `window.<user>` payload): it spans the session's first to last sample.
    public static func fromSession(_ body: JSONObject, offset: Int64) -> Workout? {
        guard let id = body["id"]?.stringValue, let user = body["user"]?.stringValue,
            let first = body["first_ts"]?.int64Value, let last = body["last_ts"]?.int64Value, last > first
        else { return nil }
        return Workout(
            id: id, user: user, source: telemetrySource, sport: body["sport"]?.stringValue ?? "unknown", start: first,
            durationMillis: last - first, distance: body["distance_m"]?.doubleValue ?? 0,
            movingMillis: body["moving_time_s"]?.doubleValue.map { Int64($0 * 1000) },
            elevationGain: body["elevation_gain_m"]?.doubleValue ?? 0, averageHeartRate: body["avg_hr"]?.doubleValue,
            maxHeartRate: body["max_hr"]?.doubleValue, samples: body["samples"]?.int64Value.map { Int($0) }, offset: offset)
    }
}
