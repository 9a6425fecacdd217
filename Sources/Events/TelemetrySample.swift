/// One sample from a device during a workout (the contract's `telemetry` event).
///
/// Optional measurements are absent when the device did not report them. They are stored as
/// NaN for absent (a sample is 136 bytes instead of 200: batches of them wait in the ingest
/// inbox and are copied through every stage), and read and written as optionals.
public struct TelemetrySample: Sendable, Equatable, Codable {
    public var user: String
    public var device: String
    public var session: String
    /// Event time, epoch milliseconds.
    public var ts: Int64
    public var sport: String?
    private var storedDistance: Double
    private var storedHeartRate: Double
    private var storedSpeed: Double
    private var storedCadence: Double
    private var storedPower: Double
    private var storedLatitude: Double
    private var storedLongitude: Double
    private var storedAltitude: Double

    /// Cumulative distance within the session, metres.
    public var distance: Double? {
        get { Self.value(storedDistance) }
        set { storedDistance = newValue ?? .nan }
    }
    public var heartRate: Double? {
        get { Self.value(storedHeartRate) }
        set { storedHeartRate = newValue ?? .nan }
    }
    public var speed: Double? {
        get { Self.value(storedSpeed) }
        set { storedSpeed = newValue ?? .nan }
    }
    public var cadence: Double? {
        get { Self.value(storedCadence) }
        set { storedCadence = newValue ?? .nan }
    }
    public var power: Double? {
        get { Self.value(storedPower) }
        set { storedPower = newValue ?? .nan }
    }
    public var latitude: Double? {
        get { Self.value(storedLatitude) }
        set { storedLatitude = newValue ?? .nan }
    }
    public var longitude: Double? {
        get { Self.value(storedLongitude) }
        set { storedLongitude = newValue ?? .nan }
    }
    public var altitude: Double? {
        get { Self.value(storedAltitude) }
        set { storedAltitude = newValue ?? .nan }
    }

    @inline(__always) private static func value(_ stored: Double) -> Double? { stored.isNaN ? nil : stored }

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
        storedDistance = distance ?? .nan
        storedHeartRate = heartRate ?? .nan
        storedSpeed = speed ?? .nan
        storedCadence = cadence ?? .nan
        storedPower = power ?? .nan
        storedLatitude = latitude ?? .nan
        storedLongitude = longitude ?? .nan
        storedAltitude = altitude ?? .nan
    }

    public static func == (a: TelemetrySample, b: TelemetrySample) -> Bool {
        a.user == b.user && a.device == b.device && a.session == b.session && a.ts == b.ts && a.sport == b.sport
            && a.distance == b.distance && a.heartRate == b.heartRate && a.speed == b.speed && a.cadence == b.cadence
            && a.power == b.power && a.latitude == b.latitude && a.longitude == b.longitude && a.altitude == b.altitude
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
