import ClubKernel
import JSON

/// The competitions and what they need to know of members: entries, groups' members (from the
/// log's group events, which the community gate admitted), and each counted workout's
/// contributions — a copy that stops counting leaves them (Training's duplicate rule).
public struct Competitions: Codable, Sendable, Equatable {
    public private(set) var all: [String: Competition] = [:]
    /// The members of each group, and the groups of each member.
    private var members: [String: Set<String>] = [:]
    private var memberOf: [String: Set<String>] = [:]
    /// The competitions each counted workout contributes to.
    private var placements: [String: [String]] = [:]

    public init() {}

    /// Competitions whose standings changed since the last call of ``takeChanged()``.
    private var changed: Set<String> = []

    /// The event types that change competitions, besides workouts.
    public static let types: Set<String> = ["competition.created", "competition.joined", "group.created", "group.joined", "group.left"]

    /// Applies a competition or group event.
    public mutating func apply(_ event: ActivityEvent) {
        let b = event.body
        switch event.type {
        case "competition.created":
            if let c = Competition(event), all[c.id] == nil { all[c.id] = c }
        case "competition.joined":
            if let id = b["competition"]?.stringValue { all[id]?.entrants.insert(event.user) }
        case "group.created", "group.joined":
            if let g = b["group"]?.stringValue {
                members[g, default: []].insert(event.user)
                memberOf[event.user, default: []].insert(g)
            }
        case "group.left":
            if let g = b["group"]?.stringValue {
                members[g]?.remove(event.user)
                memberOf[event.user]?.remove(g)
            }
        default: break
        }
    }

    /// The groups `user` is a member of now (the log's group events; the community gate
    /// admitted them).
    public func groups(of user: String) -> Set<String> { memberOf[user] ?? [] }

    /// Whether `user` is in `c`'s scope now.
    private func inScope(_ user: String, _ c: Competition, region: String?) -> Bool {
        switch c.scope {
        case .everyone: return c.entrants.contains(user)
        case .group(let g): return members[g]?.contains(user) == true
        case .region(let r): return region == r
        }
    }

    /// Moves the workouts that stopped counting out, and those that started counting in.
    public mutating func place(counted: [Workout], uncounted: [Workout], region: (String) -> String?) {
        for gone in uncounted {
            for id in placements.removeValue(forKey: gone.id) ?? [] where all[id]?.final == false {
                all[id]?.standings.set(user: gone.user, workout: gone.id, value: nil, at: gone.end)
                changed.insert(id)
            }
        }
        guard !all.isEmpty else { return }
        for workout in counted {
            var ids: [String] = []
            for (id, c) in all where !c.final {
                guard let value = c.contribution(of: workout), inScope(workout.user, c, region: region(workout.user)) else { continue }
                all[id]!.standings.set(user: workout.user, workout: workout.id, value: value, at: workout.end)
                ids.append(id)
                changed.insert(id)
            }
            if !ids.isEmpty { placements[workout.id] = ids }
        }
    }

    /// The competitions changed since the last call.
    public mutating func takeChanged() -> Set<String> {
        defer { changed = [] }
        return changed
    }

    /// Makes final every competition whose `end + grace` the clock has passed.
    /// - Returns: their ids, in order.
    public mutating func finish(now: Int64) -> [String] {
        let due = all.values.filter { !$0.final && now >= $0.finalAt }.map(\.id).sorted()
        guard !due.isEmpty else { return [] }
        for id in due { all[id]!.final = true }
        // A final competition's standings never change again: its placements go, in one pass.
        let finals = Set(due)
        placements = placements.compactMapValues { ids in
            let open = ids.filter { !finals.contains($0) }
            return open.isEmpty ? nil : open
        }
        return due
    }

    /// The `competition.finished` event of a final competition and a `competition.prize` event
    /// per winner; their ids follow from the competition (and the winner).
    public static func results(of c: Competition, limit: Int = 1000) -> [ActivityEvent] {
        let entries = c.standings.top(limit)
        var w = JSONWriter()
        w.member("user", c.creator)
        w.member("competition", c.id)
        w.member("title", c.title)
        w.member("goal", c.goal.rawValue)
        w.key("entries")
        w.beginArray()
        for (i, e) in entries.enumerated() {
            w.beginObject()
            w.member("rank", i + 1)
            w.member("user", e.user)
            w.member("value", (e.value * 1000).rounded() / 1000)
            w.endObject()
        }
        w.endArray()
        if let progress = c.progress {
            w.member("progress", (progress * 1000).rounded() / 1000)
            if let target = c.target { w.member("reached", progress >= target) }
        }
        var events = [ActivityEvent.raised("competition.finished", id: "finished:\(c.id)", user: c.creator, at: c.finalAt, members: w.bytes)]
        for (i, e) in entries.enumerated() {
            guard let points = c.prize(rank: i + 1), points > 0 else { continue }
            // A shared target pays its prizes only when it was reached.
            if c.goal == .shared, let target = c.target, (c.progress ?? 0) < target { continue }
            var p = JSONWriter()
            p.member("user", e.user)
            p.member("competition", c.id)
            p.member("rank", i + 1)
            p.member("points", points)
            events.append(.raised("competition.prize", id: "prize:\(c.id):\(e.user)", user: e.user, at: c.finalAt, members: p.bytes))
        }
        return events
    }
}
