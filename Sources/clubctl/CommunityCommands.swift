import ArgumentParser
import ClubProtocol
import Foundation

/// The Community subsystem's commands: groups, one group, recommendations, sessions, one
/// session, a discussion.
struct Groups: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List groups: all, a member's, of one kind or interest.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Option(help: "Only the groups of this member.") var user: String?
    @Option(help: "Only groups of this kind: joint, coached or interest.") var kind: String?
    @Option(help: "Only groups with this interest.") var interest: String?
    @Flag(help: "Interest groups recommended for --user instead.") var recommended = false

    func run() throws {
        let request: [UInt8]
        if recommended {
            guard let user else { throw ValidationError("--recommended needs --user") }
            request = RecommendationsRequest(user: user).bytes
        } else {
            request = GroupsRequest(user: user, kind: kind, interest: interest).bytes
        }
        let reply = try endpoints.client().request(request)
        try output.show(reply, as: GroupsReply.self) { list in
            guard !list.groups.isEmpty else { return "no groups" }
            var table = Table("GROUP", "KIND", "MEMBERS", "COACH", "REGION", "INTERESTS", recommended ? "REASON" : "STATE", "TITLE")
            for g in list.groups {
                table.add(
                    g.group, g.kind, String(g.members), g.coach ?? "-", g.region ?? "-", g.interests.isEmpty ? "-" : g.interests.joined(separator: ","),
                    recommended ? g.reason ?? "-" : (g.closed ? "closed" : "open"), g.title)
            }
            return table.text
        }
    }
}

struct GroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "group", abstract: "Print a group and its members.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The group id.") var group: String

    func run() throws {
        let reply = try endpoints.client().request(GroupRequest(group: group).bytes)
        try output.show(reply, as: GroupReply.self) { g in
            let i = g.info
            return """
                \(i.group): \(i.title) (\(i.kind)\(i.closed ? ", closed" : ""))
                owner \(i.owner)\(i.coach.map { ", coach \($0)" } ?? "")\(i.region.map { ", region \($0)" } ?? "")\(i.interests.isEmpty ? "" : ", interests \(i.interests.joined(separator: ", "))")
                \(i.members) members: \(g.memberIDs.joined(separator: " "))
                """
        }
    }
}

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a group's sessions, or those of a member's groups.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Option(help: "The group.") var group: String?
    @Option(help: "The member.") var user: String?

    func validate() throws {
        guard (group == nil) != (user == nil) else { throw ValidationError("give one of --group or --user") }
    }

    func run() throws {
        let reply = try endpoints.client().request(SessionsRequest(group: group, user: user).bytes)
        try output.show(reply, as: SessionsReply.self) { list in
            guard !list.sessions.isEmpty else { return "no sessions" }
            var table = Table("SESSION", "GROUP", "START", "DURATION", "SPORT", "GOING", "WAITING", "ATTENDED", "STATE")
            for s in list.sessions {
                table.add(
                    s.session, s.group, Format.time(s.start), Format.duration(Double(s.durationSeconds)), s.sport,
                    s.capacity.map { "\(s.going.count)/\($0)" } ?? String(s.going.count), String(s.waitlist.count), String(s.attended.count),
                    s.cancelled ? "cancelled" : "scheduled")
            }
            return table.text
        }
    }
}

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "session", abstract: "Print a session: RSVPs, waitlist, attendance.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The session id.") var session: String

    func run() throws {
        let reply = try endpoints.client().request(SessionRequest(session: session).bytes)
        try output.show(reply, as: SessionReply.self) { r in
            let s = r.info
            var table = Table("MEMBER", "MINUTES", "WITH COACH", "RSVP", "HOW")
            for a in s.attended {
                table.add(a.user, String(a.minutes), a.withCoach ? "yes" : "no", a.rsvp ? "yes" : "no", a.checkedIn ? "checked in" : "detected")
            }
            return """
                \(s.session) of \(s.group): \(s.sport), \(Format.time(s.start)), \(Format.duration(Double(s.durationSeconds)))\(s.cancelled ? " — cancelled" : "")
                place \(s.latitude), \(s.longitude) within \(Int(s.radius)) m\(s.capacity.map { ", capacity \($0)" } ?? "")
                going: \(s.going.isEmpty ? "-" : s.going.joined(separator: " "))
                waitlist: \(s.waitlist.isEmpty ? "-" : s.waitlist.joined(separator: " "))
                """ + (s.attended.isEmpty ? "\nnobody attended (yet)" : "\n" + table.text)
        }
    }
}

struct Discussion: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a group's discussion, newest first.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The group id.") var group: String
    @Option(help: "Posts older than this post.") var before: String?
    @Option(help: "Posts per page.") var limit = 50

    func run() throws {
        let reply = try endpoints.client().request(DiscussionRequest(group: group, before: before, limit: limit).bytes)
        try output.show(reply, as: DiscussionReply.self) { d in
            guard !d.posts.isEmpty else { return "\(d.group): no posts" }
            return d.posts.map { p in
                let head = "\(Format.time(p.at))  \(p.user)  [\(p.post)\(p.replyTo.map { " ↩ \($0)" } ?? "")]"
                return head + "\n  " + (p.hidden ? "(hidden)" : (p.text ?? "").replacingOccurrences(of: "\n", with: "\n  "))
            }.joined(separator: "\n")
        }
    }
}

struct CompetitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "competition", abstract: "Print a competition's board and whether it is final.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The competition id.") var competition: String
    @Option(help: "Also this member's rank.") var user: String?

    func run() throws {
        let reply = try endpoints.client().request(CompetitionRequest(competition: competition, user: user).bytes)
        try output.show(reply, as: CompetitionReply.self) { c in
            var head = "\(c.competition): \(c.title) — \(c.goal) of \(c.metric), \(c.scope), \(Format.time(c.start)) to \(Format.time(c.end))"
            head += c.final ? ", final" : ", final at \(Format.time(c.finalAt))"
            if let progress = c.progress { head += String(format: "\nprogress %.1f of %.1f", progress, c.target ?? 0) }
            let prizes = c.prizes.map { $0.from == $0.to ? "#\($0.from): \($0.points)" : "#\($0.from)–\($0.to): \($0.points)" }
            if !prizes.isEmpty { head += "\nprizes " + prizes.joined(separator: ", ") + " points" }
            var table = Table("RANK", "USER", "VALUE")
            for e in c.entries { table.add(String(e.rank), e.user, String(format: "%.1f", e.value)) }
            var text = head + "\n" + (c.entries.isEmpty ? "no entries yet" : table.text)
            if let mine = c.user { text += "\n\(mine.user): rank \(mine.rank) of \(c.ranked), " + String(format: "%.1f", mine.value) }
            return text
        }
    }
}
