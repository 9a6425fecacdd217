/// Settings of the Community subsystem (`community.*` in the daemon's configuration).
public struct CommunityConfig: Sendable, Equatable {
    /// Posts a user may make in any 60 s of event time (`community.posts_per_minute`).
    public var postsPerMinute = 5
    /// How long after a session's end the daemon's clock waits for telemetry before it
    /// decides attendance (`community.attendance_grace`); telemetry arriving later still
    /// counts, decided at the next tick.
    public var attendanceGraceMillis: Int64 = 5 * 60_000
    /// A member is decided once no telemetry of theirs (or of the coach) has arrived for this
    /// long, by the daemon's clock: a watch syncing a finished session uploads it in a burst.
    public var attendanceSettleMillis: Int64 = 3_000
    /// How long sessions stay in the attendance detector after their end, for telemetry that
    /// syncs late (a watch uploading the next morning).
    public var attendanceRetentionMillis: Int64 = 7 * 86_400_000
    /// Attendance counts samples from this long before a session's start.
    public var leadMillis: Int64 = 15 * 60_000
    /// A user is moving between two samples at this speed or more, metres per second.
    public var movingSpeed = 0.5
    /// Longest gap between two samples counted as moving time (a paused device).
    public var longestGapMillis: Int64 = 60_000

    /// Whether running together is detected at all (`community.together`).
    public var togetherEnabled = true
    /// Users within this many metres of each other run together (`community.together_m`).
    public var togetherMeters = 100.0
    /// At least this much of their sessions must overlap.
    public var togetherMinimumMillis: Int64 = 10 * 60_000
    /// A track has ended when nothing of it arrived for this long, by the daemon's clock
    /// (`community.together_idle`): its pairs are decided then.
    public var togetherIdleMillis: Int64 = 2 * 60_000
    /// How long positions wait for others' telemetry of the same moment, by the daemon's clock
    /// (`community.together_lateness`).
    public var togetherLatenessMillis: Int64 = 5 * 60_000

    public init() {}
}
