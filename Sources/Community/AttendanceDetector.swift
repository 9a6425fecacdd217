import ClubKernel
import Events

/// Detects attendance from telemetry, as the contract defines it: a member attended a session
/// when a sample of theirs lies within the place's radius between `start − 15 min` and the
/// session's end, and they were moving (anywhere) for at least half of the session's duration
/// in that span. Pure: it takes samples, the schedule and `now`.
///
/// It decides when the daemon's clock has passed the session's end by
/// `community.attendance_grace`, so that every member's telemetry — and the coach's, for
/// `with_coach` — has had time to arrive; telemetry that syncs later still counts and is
/// decided at the next call of ``due(now:schedule:config:)``. Each member and session is
/// raised once (the event's id follows from both, so a replay makes a duplicate).
public struct AttendanceDetector: Codable, Sendable, Equatable {
    struct Key: Hashable, Codable, Sendable {
        var session: String
        var user: String
    }

    struct Presence: Codable, Sendable, Equatable {
        var near = false
        var movingMillis: Int64 = 0
        var lastTs: Int64 = .min
        var lastLatitude: Double?
        var lastLongitude: Double?
        var lastDistance: Double?
        var decided = false
        var changed = true
        /// The daemon's clock when a sample last arrived (not event time).
        var touchedAt: Int64 = 0

        /// Counts a sample in the session's span: near the place, moving since the last one.
        mutating func take(_ sample: TelemetrySample, at s: Session, config: CommunityConfig, now: Int64) {
            if !near, let lat = sample.latitude, let lon = sample.longitude, Geo.distance(lat, lon, s.latitude, s.longitude) <= s.radius {
                near = true
            }
            if sample.ts > lastTs {
                if lastTs != .min {
                    let dt = sample.ts - lastTs
                    if AttendanceDetector.speed(sample, after: self, seconds: Double(dt) / 1000) >= config.movingSpeed {
                        movingMillis += min(dt, config.longestGapMillis)
                    }
                }
                lastTs = sample.ts
                lastLatitude = sample.latitude ?? lastLatitude
                lastLongitude = sample.longitude ?? lastLongitude
                lastDistance = sample.distance ?? lastDistance
            }
            changed = true
            touchedAt = now
        }
    }

    private var presences: [Key: Presence] = [:]

    public init() {}

    /// Members and sessions being watched.
    public var watched: Int { presences.count }

    /// Takes samples of users the schedule watches; others cost one lookup.
    /// - Parameter now: the daemon's clock, for ``CommunityConfig/attendanceSettleMillis``.
    public mutating func observe(_ samples: [TelemetrySample], schedule: SessionSchedule, config: CommunityConfig, now: Int64) {
        guard !schedule.byUser.isEmpty else { return }
        for sample in samples {
            guard let entries = schedule.byUser[sample.user] else { continue }
            for entry in entries {
                let s = entry.session
                guard sample.ts >= s.start - config.leadMillis, sample.ts <= s.end else { continue }
                // In place: one lookup.
                presences[Key(session: s.id, user: sample.user), default: Presence()].take(sample, at: s, config: config, now: now)
            }
        }
    }

    /// The speed between the previous sample and this one: the device's own, else from the
    /// positions, else from the cumulative distance.
    static func speed(_ sample: TelemetrySample, after p: Presence, seconds: Double) -> Double {
        if let speed = sample.speed { return speed }
        guard seconds > 0 else { return 0 }
        if let lat = sample.latitude, let lon = sample.longitude, let lat0 = p.lastLatitude, let lon0 = p.lastLongitude {
            return Geo.distance(lat0, lon0, lat, lon) / seconds
        }
        if let d = sample.distance, let d0 = p.lastDistance { return max(0, d - d0) / seconds }
        return 0
    }

    private static func attended(_ p: Presence, _ s: Session) -> Bool { p.near && p.movingMillis * 2 >= s.durationMillis }

    /// Decides the sessions whose end the clock has passed by the grace (for each member once
    /// their telemetry — and the coach's — has stopped arriving for
    /// ``CommunityConfig/attendanceSettleMillis``): the `session.attended`
    /// events of the members who attended. Forgets sessions that left the schedule.
    /// - Parameter settledAt: the time telemetry's pauses are measured to: `now`, or while
    ///   telemetry waits to be processed, when the last of it arrived (a pause of the loop
    ///   settles nothing).
    public mutating func due(now: Int64, settledAt: Int64? = nil, schedule: SessionSchedule, config: CommunityConfig) -> [ActivityEvent] {
        let settled = settledAt ?? now
        var raised: [ActivityEvent] = []
        for (key, p) in presences where p.changed {
            guard let entry = schedule.entries[key.session] else { continue }
            let s = entry.session
            guard now >= s.end + config.attendanceGraceMillis, settled - p.touchedAt >= config.attendanceSettleMillis else { continue }
            // The coach's telemetry still arriving (a late sync of the whole group): wait for it.
            if let coach = entry.coach, coach != key.user, let c = presences[Key(session: key.session, user: coach)],
                settled - c.touchedAt < config.attendanceSettleMillis
            {
                continue
            }
            presences[key]?.changed = false
            guard !p.decided, Self.attended(p, s) else { continue }
            presences[key]?.decided = true
            guard entry.members.contains(key.user) else { continue }  // a coach who is not a member
            let coachThere = entry.coach.map { coach in
                coach != key.user && presences[Key(session: key.session, user: coach)].map { Self.attended($0, s) } == true
            } ?? false
            let minutes = Int((min(p.movingMillis, s.durationMillis + config.leadMillis) + 30_000) / 60_000)
            raised.append(
                CommunityState.attended(
                    s, member: key.user, Attendance(minutes: minutes, withCoach: coachThere, rsvp: s.going.contains(key.user), checkedIn: false),
                    at: s.start))
        }
        for (key, _) in presences where schedule.entries[key.session] == nil { presences[key] = nil }
        return raised.sorted { $0.id < $1.id }
    }
}
