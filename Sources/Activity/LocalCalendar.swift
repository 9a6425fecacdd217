import Foundation

/// Day and ISO-week numbers of instants in the club's configured time zone, so that daily
/// caps and streaks turn over at local midnight (daylight saving included).
public struct LocalCalendar: Sendable, Equatable {
    public let timeZone: TimeZone

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
    }

    /// Days since 1970-01-01 in local time.
    public func day(of millis: Int64) -> Int64 {
        let offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000))) * 1000
        return (millis + offset).floorDivided(by: 86_400_000)
    }

    /// Weeks (Monday to Sunday) since the week of 1970-01-01, a Thursday.
    public func week(of millis: Int64) -> Int64 {
        (day(of: millis) + 3).floorDivided(by: 7)
    }
}

extension Int64 {
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
