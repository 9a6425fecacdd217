import ClubKernel
import Events
import JSON

/// The Community subsystem's state — groups and their members, sessions with RSVPs and
/// attendance, discussions — as a pure function of the activity log: ``apply(_:config:)``
/// takes one event and either changes the state or says why the event cannot apply.
///
/// The same engine runs twice: as the log's admission gate (``CommunityGate``, deciding each
/// client event in log order before it is admitted, so a refused event never reaches the
/// bonus or offer rules) and in the community stage (the read model for queries, which
/// raises what check-ins produce). Both see the same events in the same order, so they decide
/// the same.
public struct CommunityState: Codable, Sendable {
    public private(set) var groups: [String: Group] = [:]
    public private(set) var sessions: [String: Session] = [:]
    public private(set) var posts: [String: Post] = [:]
    /// Each group's post ids in log order.
    public private(set) var threads: [String: [String]] = [:]
    /// Each group's session ids in log order.
    public private(set) var groupSessions: [String: [String]] = [:]
    /// The groups each user is a member of.
    public private(set) var memberships: [String: Set<String>] = [:]
    /// Each user's interests, from their profile (for recommendations).
    public private(set) var interests: [String: [String]] = [:]
    /// Users each user ran together with (for recommendations).
    public private(set) var ranWith: [String: Set<String>] = [:]
    /// Competitions: their group (for a group's competition) and who entered.
    public private(set) var competitions: [String: CompetitionEntry] = [:]
    /// Event times of each user's newest posts, ascending (the rate limit).
    private var recentPosts: [String: [Int64]] = [:]
    /// False in the admission gate: post texts stay in the log and the stage.
    public var keepsText = true

    public init(keepsText: Bool = true) { self.keepsText = keepsText }

    /// The event types clients send that this engine decides.
    public static let clientTypes = Set(EventDecoder.communityTypes.keys)

    /// The types the daemon raises that the stage applies (attendance, running together).
    public static let raisedTypes: Set<String> = ["session.attended", "community.ran_together"]

    /// Why an event cannot apply.
    public typealias Refusal = ClubKernel.Refusal

    /// What applying an event produced.
    public struct Applied: Sendable, Equatable {
        /// Events to raise (a check-in's `session.attended`).
        public var raised: [ActivityEvent] = []
        /// Sessions, their places or their members changed: the attendance detector's
        /// schedule must be refreshed.
        public var scheduleChanged = false
    }

    // MARK: Applying

    /// Applies `event` (any type: those of no concern change nothing).
    public mutating func apply(_ event: ActivityEvent, config: CommunityConfig) throws(Refusal) -> Applied {
        let body = event.body
        switch event.type {
        case "profile":
            if let list = body["interests"]?.arrayValue { interests[event.user] = list.compactMap(\.stringValue) }
            return Applied()
        case "group.created": return try create(event, body)
        case "group.joined": return try join(event, body)
        case "group.left": return try leave(event, body)
        case "group.closed": return try close(event, body)
        case "session.scheduled": return try schedule(event, body)
        case "session.cancelled": return try cancel(event, body)
        case "session.rsvp": return try rsvp(event, body)
        case "session.checked_in": return try checkIn(event, body)
        case "session.attended":
            recordAttendance(event, body)
            return Applied()
        case "community.ran_together":
            let users = body["users"]?.arrayValue?.compactMap(\.stringValue) ?? []
            for a in users { for b in users where a != b { ranWith[a, default: []].insert(b) } }
            return Applied()
        case "competition.created":
            let id = try Self.id(body, "competition")
            guard competitions[id] == nil else { throw Refusal(.conflict, "competition '\(id)' exists already") }
            var group: String?
            if let g = body["scope"]?["group"]?.stringValue {
                group = try openGroup(id: g).id
            }
            competitions[id] = CompetitionEntry(group: group, entrants: [])
            return Applied()
        case "competition.joined":
            let id = try Self.id(body, "competition")
            guard let c = competitions[id] else { throw Refusal(.unknownCompetition, "no competition '\(id)'") }
            guard !c.entrants.contains(event.user) else { throw Refusal(.conflict, "'\(event.user)' entered '\(id)' already") }
            competitions[id]?.entrants.insert(event.user)
            return Applied()
        case "discussion.posted": return try post(event, body, config: config)
        case "discussion.hidden": return try hide(event, body)
        default: return Applied()
        }
    }

    private static func id(_ body: JSONObject, _ field: String) throws(Refusal) -> String {
        guard let value = body[field]?.stringValue else { throw Refusal(.missingField, "missing required field '\(field)'") }
        return value
    }

    /// The open group named by `group`, or `unknown_group`.
    private func openGroup(_ body: JSONObject) throws(Refusal) -> Group { try openGroup(id: try Self.id(body, "group")) }

    private func openGroup(id: String) throws(Refusal) -> Group {
        guard let group = groups[id] else { throw Refusal(.unknownGroup, "no group '\(id)'") }
        guard !group.closed else { throw Refusal(.unknownGroup, "group '\(id)' is closed") }
        return group
    }

    private mutating func create(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let id = try Self.id(body, "group")
        guard groups[id] == nil else { throw Refusal(.conflict, "group '\(id)' exists already") }
        guard let kind = body["kind"]?.stringValue.flatMap(Group.Kind.init(rawValue:)) else {
            throw Refusal(.outOfRange, "a group's 'kind' is joint, coached or interest")
        }
        groups[id] = Group(
            id: id, kind: kind, title: body["title"]?.stringValue ?? "", interests: body["interests"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            region: body["region"]?.stringValue, coach: body["coach"]?.stringValue, owner: e.user, members: [e.user], closed: false,
            createdAt: e.at)
        memberships[e.user, default: []].insert(id)
        return Applied()
    }

    private mutating func join(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let group = try openGroup(body)
        guard !group.members.contains(e.user) else { throw Refusal(.conflict, "'\(e.user)' is a member of '\(group.id)' already") }
        groups[group.id]?.members.insert(e.user)
        memberships[e.user, default: []].insert(group.id)
        return Applied(scheduleChanged: groupSessions[group.id] != nil)
    }

    private mutating func leave(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let id = try Self.id(body, "group")
        guard let group = groups[id] else { throw Refusal(.unknownGroup, "no group '\(id)'") }
        guard group.members.contains(e.user) else { throw Refusal(.conflict, "'\(e.user)' is not a member of '\(id)'") }
        guard e.user != group.owner else { throw Refusal(.conflict, "the owner cannot leave '\(id)': close it instead") }
        groups[id]?.members.remove(e.user)
        memberships[e.user]?.remove(id)
        if memberships[e.user]?.isEmpty == true { memberships[e.user] = nil }
        return Applied(scheduleChanged: groupSessions[id] != nil)
    }

    private mutating func close(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let group = try openGroup(body)
        guard e.user == group.owner else { throw Refusal(.forbidden, "only the owner of '\(group.id)' may close it") }
        groups[group.id]?.closed = true
        return Applied(scheduleChanged: groupSessions[group.id] != nil)
    }

    private mutating func schedule(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let id = try Self.id(body, "session")
        let group = try openGroup(body)
        guard group.leads(e.user) else { throw Refusal(.forbidden, "only the owner or coach of '\(group.id)' may schedule its sessions") }
        guard sessions[id] == nil else { throw Refusal(.conflict, "session '\(id)' exists already") }
        guard let start = body["start"].flatMap(EventTime.millis), let duration = body["duration_s"]?.doubleValue,
            let place = body["place"], let lat = place["lat"]?.doubleValue, let lon = place["lon"]?.doubleValue,
            let radius = place["radius_m"]?.doubleValue
        else { throw Refusal(.missingField, "a session needs start, duration_s and place {lat, lon, radius_m}") }
        sessions[id] = Session(
            id: id, group: group.id, start: start, durationMillis: Int64(duration * 1000), sport: body["sport"]?.stringValue ?? "",
            latitude: lat, longitude: lon, radius: radius, capacity: body["capacity"]?.int64Value.map { Int($0) }, cancelled: false,
            going: [], waitlist: [], attended: [:])
        groupSessions[group.id, default: []].append(id)
        return Applied(scheduleChanged: true)
    }

    /// The session named in `body` and its group, or `unknown_session`.
    private func session(_ body: JSONObject) throws(Refusal) -> (Session, Group) {
        let id = try Self.id(body, "session")
        guard let session = sessions[id], let group = groups[session.group] else { throw Refusal(.unknownSession, "no session '\(id)'") }
        return (session, group)
    }

    private mutating func cancel(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let (session, group) = try session(body)
        guard group.leads(e.user) else { throw Refusal(.forbidden, "only the owner or coach of '\(group.id)' may cancel its sessions") }
        guard !session.cancelled else { throw Refusal(.conflict, "session '\(session.id)' is cancelled already") }
        sessions[session.id]?.cancelled = true
        return Applied(scheduleChanged: true)
    }

    private mutating func rsvp(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let (session, group) = try session(body)
        guard group.members.contains(e.user) else { throw Refusal(.forbidden, "'\(e.user)' is not a member of '\(group.id)'") }
        guard !session.cancelled else { throw Refusal(.conflict, "session '\(session.id)' is cancelled") }
        guard let going = body["going"]?.boolValue else { throw Refusal(.missingField, "missing required field 'going' (true or false)") }
        var s = session
        if going {
            guard !s.going.contains(e.user), !s.waitlist.contains(e.user) else { return Applied() }
            if let capacity = s.capacity, s.going.count >= capacity { s.waitlist.append(e.user) } else { s.going.append(e.user) }
        } else {
            s.waitlist.removeAll { $0 == e.user }
            if let i = s.going.firstIndex(of: e.user) {
                s.going.remove(at: i)
                // The first on the waitlist who is still a member moves up.
                while !s.waitlist.isEmpty {
                    let next = s.waitlist.removeFirst()
                    if group.members.contains(next) {
                        s.going.append(next)
                        break
                    }
                }
            }
        }
        sessions[session.id] = s
        return Applied(scheduleChanged: true)
    }

    private mutating func checkIn(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let (session, group) = try session(body)
        guard group.leads(e.user) else { throw Refusal(.forbidden, "only the owner or coach of '\(group.id)' may check members in") }
        guard !session.cancelled else { throw Refusal(.conflict, "session '\(session.id)' is cancelled") }
        let member = try Self.id(body, "member")
        guard group.members.contains(member) || member == group.coach else {
            throw Refusal(.forbidden, "'\(member)' is not a member of '\(group.id)'")
        }
        guard session.attended[member] == nil else { return Applied() }
        let coachThere = e.user == group.coach || group.coach.map { session.attended[$0] != nil } ?? false
        let attendance = Attendance(
            minutes: Int(session.durationMillis / 60_000), withCoach: member != group.coach && coachThere,
            rsvp: session.going.contains(member), checkedIn: true)
        return Applied(raised: [Self.attended(session, member: member, attendance, at: max(e.at, session.start))])
    }

    /// The `session.attended` event of a member; its id follows from the session and the
    /// member, so detection and check-in raise it once between them.
    public static func attended(_ session: Session, member: String, _ a: Attendance, at: Int64) -> ActivityEvent {
        var w = JSONWriter()
        w.member("user", member)
        w.member("session", session.id)
        w.member("group", session.group)
        w.member("minutes", a.minutes)
        w.member("with_coach", a.withCoach)
        w.member("rsvp", a.rsvp)
        w.member("checked_in", a.checkedIn)
        w.member("sport", session.sport)
        return .raised("session.attended", id: "attended:\(session.id):\(member)", user: member, at: at, members: w.bytes)
    }

    private mutating func recordAttendance(_ e: ActivityEvent, _ body: JSONObject) {
        guard let id = body["session"]?.stringValue, sessions[id] != nil, sessions[id]?.attended[e.user] == nil else { return }
        sessions[id]?.attended[e.user] = Attendance(
            minutes: body["minutes"]?.int64Value.map { Int($0) } ?? 0, withCoach: body["with_coach"]?.boolValue ?? false,
            rsvp: body["rsvp"]?.boolValue ?? false, checkedIn: body["checked_in"]?.boolValue ?? false)
    }

    private mutating func post(_ e: ActivityEvent, _ body: JSONObject, config: CommunityConfig) throws(Refusal) -> Applied {
        let group = try openGroup(body)
        guard group.speaks(e.user) else { throw Refusal(.forbidden, "'\(e.user)' is not a member of '\(group.id)'") }
        let id = try Self.id(body, "post")
        guard posts[id] == nil else { throw Refusal(.conflict, "post '\(id)' exists already") }
        let replyTo = body["reply_to"]?.stringValue
        if let replyTo, posts[replyTo]?.group != group.id {
            throw Refusal(.unknownPost, "no post '\(replyTo)' in '\(group.id)' to reply to")
        }
        var recent = recentPosts[e.user] ?? []
        recent.removeAll { $0 <= e.at - 60_000 }
        let inMinute = recent.filter { $0 <= e.at }.count
        guard inMinute < config.postsPerMinute else {
            throw Refusal(.rateLimited, "'\(e.user)' posted \(inMinute) times in the last minute (limit \(config.postsPerMinute))")
        }
        let at = recent.firstIndex { $0 > e.at } ?? recent.endIndex
        recent.insert(e.at, at: at)
        recentPosts[e.user] = recent.suffix(max(config.postsPerMinute, 1) * 2)
        posts[id] = Post(
            id: id, group: group.id, user: e.user, text: keepsText ? body["text"]?.stringValue ?? "" : "", replyTo: replyTo, at: e.at,
            hidden: false)
        threads[group.id, default: []].append(id)
        return Applied()
    }

    private mutating func hide(_ e: ActivityEvent, _ body: JSONObject) throws(Refusal) -> Applied {
        let id = try Self.id(body, "group")
        guard let group = groups[id] else { throw Refusal(.unknownGroup, "no group '\(id)'") }
        let postID = try Self.id(body, "post")
        guard posts[postID]?.group == id else { throw Refusal(.unknownPost, "no post '\(postID)' in '\(id)'") }
        guard group.leads(e.user) else { throw Refusal(.forbidden, "only the owner or coach of '\(id)' may hide posts") }
        posts[postID]?.hidden = true
        return Applied()
    }

    // MARK: Reading

    /// Groups, optionally of one member, kind or interest, by id.
    public func groups(user: String?, kind: Group.Kind?, interest: String?) -> [Group] {
        let candidates: [Group] = user.map { (memberships[$0] ?? []).compactMap { groups[$0] } } ?? Array(groups.values)
        return candidates.filter { g in
            (kind == nil || g.kind == kind) && (interest == nil || g.interests.contains(interest!))
        }.sorted { $0.id < $1.id }
    }

    /// A recommended group and why.
    public struct Recommendation: Sendable, Equatable {
        public var group: Group
        public var reason: String
        public var score: Int
    }

    /// Open interest groups `user` is not in, best first: the most shared interests, then the
    /// most members the user ran with, then the most members.
    public func recommendations(for user: String, limit: Int) -> [Recommendation] {
        let mine = Set(interests[user] ?? [])
        let mates = ranWith[user] ?? []
        var found: [Recommendation] = []
        for group in groups.values where group.kind == .interest && !group.closed && !group.members.contains(user) {
            let shared = group.interests.filter(mine.contains).count
            let ran = group.members.filter(mates.contains).count
            guard shared > 0 || ran > 0 else { continue }
            found.append(Recommendation(group: group, reason: shared >= ran ? "interests" : "ran_with", score: shared * 1000 + ran))
        }
        found.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.group.members.count != b.group.members.count { return a.group.members.count > b.group.members.count }
            return a.group.id < b.group.id
        }
        return Array(found.prefix(limit))
    }

    /// A page of a group's discussion, newest first, older than `before` when given.
    public func discussion(group: String, before: String?, limit: Int) -> [Post] {
        let ids = threads[group] ?? []
        var end = ids.endIndex
        if let before, let i = ids.firstIndex(of: before) { end = i }
        return ids[..<end].suffix(limit).reversed().compactMap { posts[$0] }
    }

    /// A group's sessions in log order.
    public func sessions(of group: String) -> [Session] { (groupSessions[group] ?? []).compactMap { sessions[$0] } }

    /// Sessions of every group `user` is a member of.
    public func sessions(forMember user: String) -> [Session] {
        (memberships[user] ?? []).sorted().flatMap { sessions(of: $0) }.sorted { ($0.start, $0.id) < ($1.start, $1.id) }
    }
}
