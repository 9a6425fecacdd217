import Synchronization

/// The sessions the attendance detector watches: not cancelled, of open groups, until
/// `attendanceRetentionMillis` after their end; with whose telemetry counts for each (the
/// group's members and its coach).
public struct SessionSchedule: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var session: Session
        public var coach: String?
        public var members: Set<String>
    }

    public private(set) var entries: [String: Entry] = [:]
    /// The sessions each user's telemetry may attend (one lookup per sample).
    public private(set) var byUser: [String: [Entry]] = [:]

    public init() {}

    /// The schedule of `state`'s sessions as of `now`.
    public init(_ state: CommunityState, now: Int64, config: CommunityConfig) {
        for session in state.sessions.values where !session.cancelled && session.end + config.attendanceRetentionMillis > now {
            guard let group = state.groups[session.group], !group.closed else { continue }
            var session = session
            session.attended = [:]
            let entry = Entry(session: session, coach: group.coach, members: group.members)
            entries[session.id] = entry
            for user in group.members.union(group.coach.map { [$0] } ?? []) { byUser[user, default: []].append(entry) }
        }
    }
}

/// Where the community stage hands the attendance detector (on the telemetry loop) its
/// schedule.
public final class ScheduleBoard: Sendable {
    private let current = Mutex(SessionSchedule())

    public init() {}

    public var schedule: SessionSchedule { current.withLock { $0 } }

    public func publish(_ schedule: SessionSchedule) { current.withLock { $0 = schedule } }
}
