import JSON

/// `groups`: groups, optionally those of one member, of one kind or with one interest.
public struct GroupsRequest: Request, Equatable {
    public static let op = Op.groups
    public var user: String?
    public var kind: String?
    public var interest: String?

    public init(user: String? = nil, kind: String? = nil, interest: String? = nil) {
        self.user = user
        self.kind = kind
        self.interest = interest
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        user = try r.optionalString("user")
        kind = try r.optionalString("kind")
        interest = try r.optionalString("interest")
        if let kind, !["joint", "coached", "interest"].contains(kind) {
            throw .wrongType("field 'kind' must be joint, coached or interest")
        }
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.optionalMember("user", user)
        w.optionalMember("kind", kind)
        w.optionalMember("interest", interest)
    }
}

/// `group`: one group with its members' ids.
public struct GroupRequest: Request, Equatable {
    public static let op = Op.group
    public var group: String
    public init(group: String) { self.group = group }
    public init(request: JSONObject) throws(CommandError) { group = try RequestReader(request).string("group") }
    public func writeMembers(into w: inout JSONWriter) { w.member("group", group) }
}

/// `recommendations`: interest groups for a user, best first.
public struct RecommendationsRequest: Request, Equatable {
    public static let op = Op.recommendations
    public var user: String
    public var limit: Int

    public init(user: String, limit: Int = 10) {
        self.user = user
        self.limit = limit
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        user = try r.user()
        limit = try r.int("limit", in: 1...100) ?? 10
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("limit", limit)
    }
}

/// `sessions` (extension): a group's sessions, or those of every group a user is in.
public struct SessionsRequest: Request, Equatable {
    public static let op = Op.sessions
    public var group: String?
    public var user: String?

    public init(group: String? = nil, user: String? = nil) {
        self.group = group
        self.user = user
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        group = try r.optionalString("group")
        user = try r.optionalString("user")
        guard (group == nil) != (user == nil) else { throw CommandError("missing_field", "give one of 'group' or 'user'") }
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.optionalMember("group", group)
        w.optionalMember("user", user)
    }
}

/// `session` (extension): one session with its RSVPs and attendance.
public struct SessionRequest: Request, Equatable {
    public static let op = Op.session
    public var session: String
    public init(session: String) { self.session = session }
    public init(request: JSONObject) throws(CommandError) { session = try RequestReader(request).string("session") }
    public func writeMembers(into w: inout JSONWriter) { w.member("session", session) }
}

/// `discussion`: a page of a group's posts, newest first.
public struct DiscussionRequest: Request, Equatable {
    public static let op = Op.discussion
    public var group: String
    public var before: String?
    public var limit: Int

    public init(group: String, before: String? = nil, limit: Int = 50) {
        self.group = group
        self.before = before
        self.limit = limit
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        group = try r.string("group")
        before = try r.optionalString("before")
        limit = try r.int("limit", in: 1...500) ?? 50
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("group", group)
        w.optionalMember("before", before)
        w.member("limit", limit)
    }
}

/// `competition`: a competition's board, progress and whether it is final.
public struct CompetitionRequest: Request, Equatable {
    public static let op = Op.competition
    public var competition: String
    public var user: String?

    public init(competition: String, user: String? = nil) {
        self.competition = competition
        self.user = user
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        competition = try r.string("competition")
        user = try r.optionalString("user")
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("competition", competition)
        w.optionalMember("user", user)
    }
}
