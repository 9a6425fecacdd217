import Foundation

/// Distances on the Earth's surface.
public enum Geo {
    static let earthRadius = 6_371_008.8

    /// Whether two points lie within `metres` of each other, by the equirectangular
    /// approximation (exact to well under 1 % at the few hundred metres it is used for, and
    /// without the haversine's trigonometry); `cosLatitude` is the cosine of either latitude.
    @inline(__always)
    public static func within(
        _ metres: Double, _ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double, cosLatitude: Double
    ) -> Bool {
        let dy = (lat2 - lat1) * metresPerDegree
        let dx = (lon2 - lon1) * metresPerDegree * cosLatitude
        return dx * dx + dy * dy <= metres * metres
    }

    /// Metres per degree of latitude.
    public static let metresPerDegree = 111_195.0

    /// Great-circle distance in metres (haversine).
    public static func distance(_ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double) -> Double {
        let p1 = lat1 * .pi / 180, p2 = lat2 * .pi / 180
        let dp = p2 - p1, dl = (lon2 - lon1) * .pi / 180
        let a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2)
        return 2 * earthRadius * asin(min(1, sqrt(a)))
    }
}
