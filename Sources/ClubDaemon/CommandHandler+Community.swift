import ClubProtocol
import Community
import Pipeline

/// The Community subsystem's ops, answered from the community stage's state (as far as it
/// has applied the log): `groups`, `group`, `recommendations`, `discussion`, and the
/// extensions `sessions` and `session`.
extension CommandHandler {
    func groups(_ request: GroupsRequest) async -> [UInt8] {
        let kind = request.kind.flatMap(Group.Kind.init(rawValue:))
        return await runtime.readCommunity { state in
            GroupsReply(groups: state.groups(user: request.user, kind: kind, interest: request.interest).map { GroupInfo($0) }).bytes
        }
    }

    func group(_ request: GroupRequest) async -> [UInt8] {
        await runtime.readCommunity { state in
            guard let group = state.groups[request.group] else { return Self.unknownGroup(request.group) }
            return GroupReply(info: GroupInfo(group), memberIDs: group.members.sorted()).bytes
        }
    }

    func recommendations(_ request: RecommendationsRequest) async -> [UInt8] {
        await runtime.readCommunity { state in
            GroupsReply(
                groups: state.recommendations(for: request.user, limit: request.limit).map { GroupInfo($0.group, reason: $0.reason) }
            ).bytes
        }
    }

    func sessions(_ request: SessionsRequest) async -> [UInt8] {
        await runtime.readCommunity { state in
            if let group = request.group {
                guard state.groups[group] != nil else { return Self.unknownGroup(group) }
                return SessionsReply(
                    sessions: state.sessions(of: group).sorted { ($0.start, $0.id) < ($1.start, $1.id) }.map(SessionInfo.init)
                ).bytes
            }
            return SessionsReply(sessions: state.sessions(forMember: request.user ?? "").map(SessionInfo.init)).bytes
        }
    }

    func session(_ request: SessionRequest) async -> [UInt8] {
        await runtime.readCommunity { state in
            guard let session = state.sessions[request.session] else {
                return CommandError("unknown_session", "no session '\(request.session.prefix(64))'").reply
            }
            return SessionReply(info: SessionInfo(session)).bytes
        }
    }

    func discussion(_ request: DiscussionRequest) async -> [UInt8] {
        await runtime.readCommunity { state in
            guard state.groups[request.group] != nil else { return Self.unknownGroup(request.group) }
            let posts = state.discussion(group: request.group, before: request.before, limit: request.limit)
            return DiscussionReply(
                group: request.group,
                posts: posts.map {
                    .init(
                        post: $0.id, user: $0.user, text: $0.hidden ? nil : $0.text, replyTo: $0.replyTo, at: Int($0.at), hidden: $0.hidden)
                }
            ).bytes
        }
    }

    /// A competition's board, as far as the training stage has applied the log.
    func competition(_ request: CompetitionRequest) async -> [UInt8] {
        guard let reply = await runtime.competition(request.competition, user: request.user) else {
            return CommandError("unknown_competition", "no competition '\(request.competition.prefix(64))'").reply
        }
        return reply.bytes
    }

    static func unknownGroup(_ id: String) -> [UInt8] { CommandError("unknown_group", "no group '\(id.prefix(64))'").reply }
}

extension GroupInfo {
    init(_ g: Group, reason: String? = nil) {
        self.init(
            group: g.id, kind: g.kind.rawValue, title: g.title, interests: g.interests, region: g.region, coach: g.coach,
            members: g.members.count,
            owner: g.owner, closed: g.closed, reason: reason)
    }
}

extension SessionInfo {
    init(_ s: Session) {
        self.init(
            session: s.id, group: s.group, start: Int(s.start), durationSeconds: Int(s.durationMillis / 1000), sport: s.sport,
            latitude: s.latitude,
            longitude: s.longitude, radius: s.radius, capacity: s.capacity, cancelled: s.cancelled, going: s.going, waitlist: s.waitlist,
            attended: s.attended.sorted { $0.key < $1.key }.map {
                .init(
                    user: $0.key, minutes: $0.value.minutes, withCoach: $0.value.withCoach, rsvp: $0.value.rsvp,
                    checkedIn: $0.value.checkedIn)
            })
    }
}
