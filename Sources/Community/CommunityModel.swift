// The Community subsystem's model: groups, sessions and attendance, competition entries, posts.

/// A group of members: for running together (`joint`), led by a coach (`coached`), or around an
/// interest (`interest`). Its creator is its owner and first member.
public struct Group: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case joint, coached, interest
    }

    public var id: String
    public var kind: Kind
    public var title: String
    public var interests: [String]
    public var region: String?
    /// A user id; set for coached groups.
    public var coach: String?
    public var owner: String
    public var members: Set<String>
    public var closed: Bool
    /// Event time of its creation.
    public var createdAt: Int64

    /// Whether `user` may act as the group's leader: schedule and cancel sessions, hide posts,
    /// check members in.
    public func leads(_ user: String) -> Bool { user == owner || user == coach }

    /// Whether `user` may post in its discussion: members, and the coach.
    public func speaks(_ user: String) -> Bool { members.contains(user) || user == coach }
}

/// A scheduled meeting of a group at a place, with RSVPs and the attendance detected.
public struct Session: Codable, Sendable, Equatable {
    public var id: String
    public var group: String
    /// Event time of the start, epoch ms.
    public var start: Int64
    public var durationMillis: Int64
    public var sport: String
    public var latitude: Double
    public var longitude: Double
    public var radius: Double
    public var capacity: Int?
    public var cancelled: Bool
    /// Members going, in the order they said so (at most `capacity`).
    public var going: [String]
    /// Members waiting for a place, first come first served.
    public var waitlist: [String]
    /// Members who attended (detected from telemetry or checked in).
    public var attended: [String: Attendance]

    public var end: Int64 { start + durationMillis }
}

/// How a member attended a session.
public struct Attendance: Codable, Sendable, Equatable {
    public var minutes: Int
    public var withCoach: Bool
    public var rsvp: Bool
    public var checkedIn: Bool
}

/// What the community knows of a competition (the training stage keeps its standings).
public struct CompetitionEntry: Codable, Sendable, Equatable {
    public var group: String?
    public var entrants: Set<String>
}

/// A post in a group's discussion.
public struct Post: Codable, Sendable, Equatable {
    public var id: String
    public var group: String
    public var user: String
    /// Empty in the admission gate's copy, which does not keep texts.
    public var text: String
    public var replyTo: String?
    /// Event time, epoch ms.
    public var at: Int64
    public var hidden: Bool
}
