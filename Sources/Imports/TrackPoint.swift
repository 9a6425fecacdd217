import Foundation

/// One sample of an imported workout, whatever the file format.
public struct TrackPoint: Sendable, Equatable {
    /// Epoch milliseconds.
    public var time: Int64?
    /// Degrees.
    public var latitude: Double?
    public var longitude: Double?
    /// Metres.
    public var altitude: Double?
    public var heartRate: Double?
    public var cadence: Double?
    /// Cumulative metres, when the file says.
    public var distance: Double?
    /// Metres per second.
    public var speed: Double?
    public var power: Double?

    public init() {}

    /// Great-circle distance to `other` in metres (haversine, mean Earth radius), or nil
    /// without positions.
    public func distance(to other: TrackPoint) -> Double? {
        guard let lat1 = latitude, let lon1 = longitude, let lat2 = other.latitude, let lon2 = other.longitude else { return nil }
        let radians = Double.pi / 180
        let a = pow(sin((lat2 - lat1) * radians / 2), 2) + cos(lat1 * radians) * cos(lat2 * radians) * pow(sin((lon2 - lon1) * radians / 2), 2)
        return 2 * 6_371_008.8 * asin(min(1, a.squareRoot()))
    }
}
