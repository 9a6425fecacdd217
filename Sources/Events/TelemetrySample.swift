/// One sample from a device during a workout (the contract's `telemetry` event).
///
/// Optional measurements are absent when the device did not report them.
public struct TelemetrySample: Sendable, Equatable, Codable {
    public var user: String
    public var device: String
    public var session: String
    /// Event time, epoch milliseconds.
    public var ts: Int64
    public var sport: String?
    /// Cumulative distance within the session, metres.
    public var distance: Double?
    public var heartRate: Double?
    public var speed: Double?
    public var cadence: Double?
    public var power: Double?
    public var latitude: Double?
    public var longitude: Double?
    public var altitude: Double?

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
}
