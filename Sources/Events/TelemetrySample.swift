/// One sample from a device during a workout (the contract's `telemetry` event).
///
/// Optional measurements are absent when the device did not report them. They are stored as
/// NaN for absent (``AbsentAsNaN``: a sample is 136 bytes instead of 200; batches of them wait
/// in the ingest inbox and are copied through every stage), and read and written as optionals.
public struct TelemetrySample: Sendable, Equatable, Codable {
    public var user: String
    public var device: String
    public var session: String
    /// Event time, epoch milliseconds.
    public var ts: Int64
    public var sport: String?
    /// Cumulative distance within the session, metres.
    @AbsentAsNaN public var distance: Double?
    @AbsentAsNaN public var heartRate: Double?
    @AbsentAsNaN public var speed: Double?
    @AbsentAsNaN public var cadence: Double?
    @AbsentAsNaN public var power: Double?
    @AbsentAsNaN public var latitude: Double?
    @AbsentAsNaN public var longitude: Double?
    @AbsentAsNaN public var altitude: Double?

    public init(
        user: String, device: String, session: String, ts: Int64, sport: String? = nil, distance: Double? = nil,
        heartRate: Double? = nil, speed: Double? = nil, cadence: Double? = nil, power: Double? = nil,
        latitude: Double? = nil, longitude: Double? = nil, altitude: Double? = nil
    ) {
        self.user = user
        self.device = device
        self.session = session
        self.ts = ts
        self.sport = sport
        self.distance = distance
        self.heartRate = heartRate
        self.speed = speed
        self.cadence = cadence
        self.power = power
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
    }

    // The keys of the synthesized conformance this replaces, absent values left out.
    private enum CodingKeys: String, CodingKey {
        case user, device, session, ts, sport, distance, heartRate, speed, cadence, power, latitude, longitude, altitude
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            user: try c.decode(String.self, forKey: .user), device: try c.decode(String.self, forKey: .device),
            session: try c.decode(String.self, forKey: .session), ts: try c.decode(Int64.self, forKey: .ts),
            sport: try c.decodeIfPresent(String.self, forKey: .sport), distance: try c.decodeIfPresent(Double.self, forKey: .distance),
            heartRate: try c.decodeIfPresent(Double.self, forKey: .heartRate), speed: try c.decodeIfPresent(Double.self, forKey: .speed),
            cadence: try c.decodeIfPresent(Double.self, forKey: .cadence), power: try c.decodeIfPresent(Double.self, forKey: .power),
            latitude: try c.decodeIfPresent(Double.self, forKey: .latitude), longitude: try c.decodeIfPresent(Double.self, forKey: .longitude),
            altitude: try c.decodeIfPresent(Double.self, forKey: .altitude))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(user, forKey: .user)
        try c.encode(device, forKey: .device)
        try c.encode(session, forKey: .session)
        try c.encode(ts, forKey: .ts)
        try c.encodeIfPresent(sport, forKey: .sport)
        try c.encodeIfPresent(distance, forKey: .distance)
        try c.encodeIfPresent(heartRate, forKey: .heartRate)
        try c.encodeIfPresent(speed, forKey: .speed)
        try c.encodeIfPresent(cadence, forKey: .cadence)
        try c.encodeIfPresent(power, forKey: .power)
        try c.encodeIfPresent(latitude, forKey: .latitude)
        try c.encodeIfPresent(longitude, forKey: .longitude)
        try c.encodeIfPresent(altitude, forKey: .altitude)
    }
}

/// An optional measurement kept in 8 bytes: NaN stands for absent (a device cannot send NaN:
/// JSON has none).
@propertyWrapper
public struct AbsentAsNaN: Sendable, Equatable {
    private var stored: Double

    public init(wrappedValue: Double?) { stored = wrappedValue ?? .nan }

    public var wrappedValue: Double? {
        get { stored.isNaN ? nil : stored }
        set { stored = newValue ?? .nan }
    }

    public static func == (a: AbsentAsNaN, b: AbsentAsNaN) -> Bool { a.wrappedValue == b.wrappedValue }
}
