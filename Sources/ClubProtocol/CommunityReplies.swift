import JSON

/// A group as `groups`, `group` and `recommendations` answer it.
public struct GroupInfo: Sendable, Equatable {
    public var group: String
    public var kind: String
    public var title: String
    public var interests: [String]
    public var region: String?
    public var coach: String?
    /// How many members it has.
    public var members: Int
    /// (extension) Its owner and whether it is closed.
    public var owner: String
    public var closed: Bool
    /// `recommendations` only: `interests` or `ran_with`.
    public var reason: String?

    public init(
        group: String, kind: String, title: String, interests: [String], region: String?, coach: String?, members: Int, owner: String,
        closed: Bool, reason: String? = nil
    ) {
        self.group = group
        self.kind = kind
        self.title = title
        self.interests = interests
        self.region = region
        self.coach = coach
        self.members = members
        self.owner = owner
        self.closed = closed
        self.reason = reason
    }

    func writeMembers(into w: inout JSONWriter) {
        w.member("group", group)
        w.member("kind", kind)
        w.member("title", title)
        w.member("interests", interests)
        w.key("region")
        if let region { w.value(region) } else { w.null() }
        w.key("coach")
        if let coach { w.value(coach) } else { w.null() }
        w.member("members", members)
        w.member("owner", owner)
        w.member("closed", closed)
        w.optionalMember("reason", reason)
    }

    init(reading v: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: v)
        group = try r.string("group")
        kind = try r.string("kind")
        title = try r.string("title")
        interests = try r.array("interests").compactMap(\.stringValue)
        region = r.optionalString("region")
        coach = r.optionalString("coach")
        members = try r.int("members")
        owner = try r.string("owner")
        closed = v["closed"]?.boolValue ?? false
        reason = r.optionalString("reason")
    }
}

/// `groups` and `recommendations`: a list of groups.
public struct GroupsReply: Reply, Equatable {
    public var groups: [GroupInfo]
    public init(groups: [GroupInfo]) { self.groups = groups }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("groups")
        w.beginArray()
        for g in groups {
            w.beginObject()
            g.writeMembers(into: &w)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        var groups: [GroupInfo] = []
        for g in try ReplyReader(value: reply).array("groups") { groups.append(try GroupInfo(reading: g)) }
        self.groups = groups
    }
}

/// `group`: the group's fields and `member_ids`.
public struct GroupReply: Reply, Equatable {
    public var info: GroupInfo
    public var memberIDs: [String]

    public init(info: GroupInfo, memberIDs: [String]) {
        self.info = info
        self.memberIDs = memberIDs
    }

    public func writeMembers(into w: inout JSONWriter) {
        info.writeMembers(into: &w)
        w.member("member_ids", memberIDs)
    }

    public init(reply: JSONValue) throws(CommandError) {
        info = try GroupInfo(reading: reply)
        memberIDs = try ReplyReader(value: reply).array("member_ids").compactMap(\.stringValue)
    }
}

/// A session as `sessions` and `session` answer it (extension ops).
public struct SessionInfo: Sendable, Equatable {
    public struct Attendee: Sendable, Equatable {
        public var user: String
        public var minutes: Int
        public var withCoach: Bool
        public var rsvp: Bool
        public var checkedIn: Bool

        public init(user: String, minutes: Int, withCoach: Bool, rsvp: Bool, checkedIn: Bool) {
            self.user = user
            self.minutes = minutes
            self.withCoach = withCoach
            self.rsvp = rsvp
            self.checkedIn = checkedIn
        }
    }

    public var session: String
    public var group: String
    public var start: Int
    public var durationSeconds: Int
    public var sport: String
    public var latitude: Double
    public var longitude: Double
    public var radius: Double
    public var capacity: Int?
    public var cancelled: Bool
    public var going: [String]
    public var waitlist: [String]
    public var attended: [Attendee]

    public init(
        session: String, group: String, start: Int, durationSeconds: Int, sport: String, latitude: Double, longitude: Double, radius: Double,
        capacity: Int?, cancelled: Bool, going: [String], waitlist: [String], attended: [Attendee]
    ) {
        self.session = session
        self.group = group
        self.start = start
        self.durationSeconds = durationSeconds
        self.sport = sport
        self.latitude = latitude
        self.longitude = longitude
        self.radius = radius
        self.capacity = capacity
        self.cancelled = cancelled
        self.going = going
        self.waitlist = waitlist
        self.attended = attended
    }

    func writeMembers(into w: inout JSONWriter) {
        w.member("session", session)
        w.member("group", group)
        w.member("start", start)
        w.member("duration_s", durationSeconds)
        w.member("sport", sport)
        w.key("place")
        w.beginObject()
        w.member("lat", latitude)
        w.member("lon", longitude)
        w.member("radius_m", radius)
        w.endObject()
        w.key("capacity")
        if let capacity { w.value(capacity) } else { w.null() }
        w.member("cancelled", cancelled)
        w.member("going", going)
        w.member("waitlist", waitlist)
        w.key("attended")
        w.beginArray()
        for a in attended {
            w.beginObject()
            w.member("user", a.user)
            w.member("minutes", a.minutes)
            w.member("with_coach", a.withCoach)
            w.member("rsvp", a.rsvp)
            w.member("checked_in", a.checkedIn)
            w.endObject()
        }
        w.endArray()
    }

    init(reading v: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: v)
        session = try r.string("session")
        group = try r.string("group")
        start = try r.int("start")
        durationSeconds = try r.int("duration_s")
        sport = try r.string("sport")
        let place = ReplyReader(value: .object(try r.object("place")))
        latitude = try place.double("lat")
        longitude = try place.double("lon")
        radius = try place.double("radius_m")
        capacity = v["capacity"]?.int64Value.map { Int($0) }
        cancelled = v["cancelled"]?.boolValue ?? false
        going = try r.array("going").compactMap(\.stringValue)
        waitlist = try r.array("waitlist").compactMap(\.stringValue)
        var attended: [Attendee] = []
        for a in try r.array("attended") {
            let ar = ReplyReader(value: a)
            attended.append(
                Attendee(
                    user: try ar.string("user"), minutes: try ar.int("minutes"), withCoach: a["with_coach"]?.boolValue ?? false,
                    rsvp: a["rsvp"]?.boolValue ?? false, checkedIn: a["checked_in"]?.boolValue ?? false))
        }
        self.attended = attended
    }
}

/// `sessions`: sessions in start order.
public struct SessionsReply: Reply, Equatable {
    public var sessions: [SessionInfo]
    public init(sessions: [SessionInfo]) { self.sessions = sessions }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("sessions")
        w.beginArray()
        for s in sessions {
            w.beginObject()
            s.writeMembers(into: &w)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        var sessions: [SessionInfo] = []
        for s in try ReplyReader(value: reply).array("sessions") { sessions.append(try SessionInfo(reading: s)) }
        self.sessions = sessions
    }
}

/// `session`: one session's fields.
public struct SessionReply: Reply, Equatable {
    public var info: SessionInfo
    public init(info: SessionInfo) { self.info = info }
    public func writeMembers(into w: inout JSONWriter) { info.writeMembers(into: &w) }
    public init(reply: JSONValue) throws(CommandError) { info = try SessionInfo(reading: reply) }
}

/// `discussion`: a page of posts, newest first; a hidden post without its text.
public struct DiscussionReply: Reply, Equatable {
    public struct Post: Sendable, Equatable {
        public var post: String
        public var user: String
        public var text: String?
        public var replyTo: String?
        public var at: Int
        public var hidden: Bool

        public init(post: String, user: String, text: String?, replyTo: String?, at: Int, hidden: Bool) {
            self.post = post
            self.user = user
            self.text = text
            self.replyTo = replyTo
            self.at = at
            self.hidden = hidden
        }
    }

    public var group: String
    public var posts: [Post]

    public init(group: String, posts: [Post]) {
        self.group = group
        self.posts = posts
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("group", group)
        w.key("posts")
        w.beginArray()
        for p in posts {
            w.beginObject()
            w.member("post", p.post)
            w.member("user", p.user)
            w.key("text")
            if let text = p.text { w.value(text) } else { w.null() }
            w.key("reply_to")
            if let reply = p.replyTo { w.value(reply) } else { w.null() }
            w.member("at", p.at)
            w.member("hidden", p.hidden)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        group = try r.string("group")
        var posts: [Post] = []
        for p in try r.array("posts") {
            let pr = ReplyReader(value: p)
            posts.append(
                Post(
                    post: try pr.string("post"), user: try pr.string("user"), text: pr.optionalString("text"), replyTo: pr.optionalString("reply_to"),
                    at: try pr.int("at"), hidden: p["hidden"]?.boolValue ?? false))
        }
        self.posts = posts
    }
}

/// `competition` and the `competition.<competition>` topic: the board, the progress of a shared
/// target, whether the result is final.
public struct CompetitionReply: Reply, TopicPayload, Equatable {
    /// A line of the board, as a leaderboard's.
    public typealias Entry = LeaderboardReply.Entry

    public struct Prize: Sendable, Equatable {
        public var from: Int
        public var to: Int
        public var points: Int
        public init(from: Int, to: Int, points: Int) {
            self.from = from
            self.to = to
            self.points = points
        }
    }

    public var competition: String
    public var title: String
    public var goal: String
    public var metric: String
    /// `everyone`, `group:<id>` or `region:<code>`.
    public var scope: String
    public var start: Int
    public var end: Int
    /// When the result becomes final (`end` + grace).
    public var finalAt: Int
    public var ranked: Int
    public var entries: [Entry]
    /// With `user`: that user's line, or nil.
    public var user: Entry?
    /// `shared`: everyone's sum, and the target.
    public var progress: Double?
    public var target: Double?
    public var final: Bool
    public var prizes: [Prize]

    public init(
        competition: String, title: String, goal: String, metric: String, scope: String, start: Int, end: Int, finalAt: Int, ranked: Int,
        entries: [Entry], user: Entry?, progress: Double?, target: Double?, final: Bool, prizes: [Prize]
    ) {
        self.competition = competition
        self.title = title
        self.goal = goal
        self.metric = metric
        self.scope = scope
        self.start = start
        self.end = end
        self.finalAt = finalAt
        self.ranked = ranked
        self.entries = entries
        self.user = user
        self.progress = progress
        self.target = target
        self.final = final
        self.prizes = prizes
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("competition", competition)
        w.member("title", title)
        w.member("goal", goal)
        w.member("metric", metric)
        w.member("scope", scope)
        w.member("start", start)
        w.member("end", end)
        w.member("final_at", finalAt)
        w.member("ranked", ranked)
        w.key("entries")
        w.beginArray()
        for e in entries { Self.write(e, into: &w) }
        w.endArray()
        if let user {
            w.key("user")
            Self.write(user, into: &w)
        }
        w.key("progress")
        if let progress { w.value(progress) } else { w.null() }
        w.key("target")
        if let target { w.value(target) } else { w.null() }
        w.member("final", final)
        w.key("prizes")
        w.beginArray()
        for p in prizes {
            w.beginObject()
            w.key("ranks")
            w.beginArray()
            w.value(p.from)
            w.value(p.to)
            w.endArray()
            w.member("points", p.points)
            w.endObject()
        }
        w.endArray()
    }

    private static func write(_ e: Entry, into w: inout JSONWriter) {
        w.beginObject()
        w.member("rank", e.rank)
        w.member("user", e.user)
        w.member("value", e.value)
        w.endObject()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        func entry(_ v: JSONValue) throws(CommandError) -> Entry {
            let er = ReplyReader(value: v)
            return Entry(rank: try er.int("rank"), user: try er.string("user"), value: try er.double("value"))
        }
        competition = try r.string("competition")
        title = try r.string("title")
        goal = try r.string("goal")
        metric = try r.string("metric")
        scope = try r.string("scope")
        start = try r.int("start")
        end = try r.int("end")
        finalAt = try r.int("final_at")
        ranked = try r.int("ranked")
        var entries: [Entry] = []
        for e in try r.array("entries") { entries.append(try entry(e)) }
        self.entries = entries
        user = try reply["user"].map(entry)
        progress = reply["progress"]?.doubleValue
        target = reply["target"]?.doubleValue
        final = reply["final"]?.boolValue ?? false
        var prizes: [Prize] = []
        for p in reply["prizes"]?.arrayValue ?? [] {
            let ranks = p["ranks"]?.arrayValue ?? []
            prizes.append(
                Prize(
                    from: Int(ranks.first?.int64Value ?? 0), to: Int(ranks.last?.int64Value ?? 0), points: Int(p["points"]?.int64Value ?? 0)))
        }
        self.prizes = prizes
    }
}

extension CompetitionReply {
    /// The `competition.<competition>` payload reads as the reply does.
    public init(payload: JSONValue) throws(CommandError) { try self.init(reply: payload) }
}
