import Foundation

/// The periods a leaderboard resets at, in the club's time zone.
public enum Period: String, Sendable, CaseIterable {
    case day, week, month, year, allTime = "all_time"

    /// The key of the period holding `millis`: `2026-11-27`, `2026-W48` (ISO week),
    /// `2026-11`, `2026`, `all`.
    public func key(of millis: Int64, in timeZone: TimeZone) -> String {
        key(of: millis, calendar: Self.calendar(in: timeZone))
    }

    /// The ISO 8601 calendar of a time zone, for ``key(of:calendar:)``: making one costs more
    /// than using it, so callers keep theirs.
    public static func calendar(in timeZone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        return calendar
    }

    /// The key of the period holding `millis` in `calendar` (see ``calendar(in:)``).
    public func key(of millis: Int64, calendar: Calendar) -> String {
        guard self != .allTime else { return "all" }
        let date = Date(timeIntervalSince1970: Double(millis) / 1000)
        let c = calendar.dateComponents([.year, .month, .day, .weekOfYear, .yearForWeekOfYear], from: date)
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        switch self {
        case .day: return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day))"
        case .week: return "\(c.yearForWeekOfYear ?? 0)-W\(two(c.weekOfYear))"
        case .month: return "\(c.year ?? 0)-\(two(c.month))"
        case .year: return "\(c.year ?? 0)"
        case .allTime: return "all"
        }
    }
}
