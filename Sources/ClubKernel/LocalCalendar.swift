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
        localMillis(millis).floorDivided(by: 86_400_000)
    }

    /// The local hour, 0...23.
    public func hour(of millis: Int64) -> Int {
        Int((localMillis(millis) - day(of: millis) * 86_400_000) / 3_600_000)
    }

    /// The ISO weekday: 1 is Monday, 7 is Sunday.
    public func weekday(of millis: Int64) -> Int {
        Int((day(of: millis) + 3) - week(of: millis) * 7) + 1
    }

    /// Months since January 1970 in local time.
    public func month(of millis: Int64) -> Int64 {
        // Civil date from a day number (H. Hinnant's days_from_civil, inverted).
        let z = day(of: millis) + 719_468
        let era = z.floorDivided(by: 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year - 1970) * 12 + month - 1
    }

    /// Years since 1970 in local time.
    public func year(of millis: Int64) -> Int64 { month(of: millis).floorDivided(by: 12) }

    private func localMillis(_ millis: Int64) -> Int64 {
        millis + Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1000))) * 1000
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
