import ClubKernel
import Events
import JSON

/// The users' equipment (the contract's `gear.added` / `gear.retired`): each counted workout
/// (one copy per activity) sends its distance and duration to the gear it names, else to the
/// user's default gear for its sport, if the workout starts while that gear is in use; when a
/// gear's distance first reaches its `retire_at_m`, `gear.worn` is raised once. Pure.
public struct GearBook: Codable, Sendable, Equatable {
    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var kind: String
        public var title: String?
        /// The gear is the user's default for these sports.
        public var sports: [String]
        public var retireAt: Double?
        /// Event times of `gear.added` and `gear.retired`.
        public var addedAt: Int64
        public var retiredAt: Int64?
        public var distance = 0.0
        public var durationSeconds = 0.0
        public var workouts = 0
        /// `gear.worn` was raised.
        public var worn = false
    }

    public static let types = EventDecoder.gearTypes

    private var items: [String: [Item]] = [:]
    /// Which gear each counted workout went to, to take it back when the workout stops counting.
    private var placements: [String: String] = [:]

    public init() {}

    /// A user's gear in the order added.
    public func gear(of user: String) -> [Item] { items[user] ?? [] }

    /// The gear of `user` alone, to read (nil if they have none): the offer rules' view of one member.
    public func only(_ user: String) -> GearBook? {
        guard let mine = items[user] else { return nil }
        var book = GearBook()
        book.items[user] = mine
        return book
    }

    /// Applies `gear.added` or `gear.retired`, or says why it cannot apply.
    public mutating func apply(_ event: ActivityEvent) throws(Refusal) {
        let b = event.body
        guard let id = b["gear"]?.stringValue else { throw Refusal(.missingField, "missing required field 'gear'") }
        let index = items[event.user]?.firstIndex { $0.id == id }
        switch event.type {
        case "gear.added":
            guard index == nil else { throw Refusal(.conflict, "'\(event.user)' has gear '\(id)' already") }
            items[event.user, default: []].append(
                Item(
                    id: id, kind: b["kind"]?.stringValue ?? "other", title: b["title"]?.stringValue,
                    sports: b["sports"]?.arrayValue?.compactMap(\.stringValue) ?? [], retireAt: b["retire_at_m"]?.doubleValue,
                    addedAt: event.at))
        case "gear.retired":
            guard let index else { throw Refusal(.unknownGear, "'\(event.user)' has no gear '\(id)'") }
            guard items[event.user]![index].retiredAt == nil else { throw Refusal(.conflict, "gear '\(id)' is retired already") }
            items[event.user]![index].retiredAt = event.at
        default: break
        }
    }

    /// Moves workouts that stopped counting off their gear and those that started onto theirs.
    /// - Returns: `gear.worn` events for gear whose distance reached its `retire_at_m`.
    public mutating func place(counted: [Workout], uncounted: [Workout]) -> [ActivityEvent] {
        for gone in uncounted {
            guard let id = placements.removeValue(forKey: gone.id), let i = items[gone.user]?.firstIndex(where: { $0.id == id }) else { continue }
            items[gone.user]![i].distance -= gone.distance
            items[gone.user]![i].durationSeconds -= Double(gone.durationMillis) / 1000
            items[gone.user]![i].workouts -= 1
        }
        var worn: [ActivityEvent] = []
        for w in counted {
            guard let mine = items[w.user], let i = Self.gearIndex(for: w, in: mine) else { continue }
            placements[w.id] = mine[i].id
            items[w.user]![i].distance += w.distance
            items[w.user]![i].durationSeconds += Double(w.durationMillis) / 1000
            items[w.user]![i].workouts += 1
            let item = items[w.user]![i]
            if let limit = item.retireAt, !item.worn, item.distance >= limit {
                items[w.user]![i].worn = true
                var j = JSONWriter()
                j.member("user", w.user)
                j.member("gear", item.id)
                j.member("kind", item.kind)
                j.member("distance_m", (item.distance * 10).rounded() / 10)
                j.member("retire_at_m", limit)
                worn.append(.raised("gear.worn", id: "worn:\(w.user):\(item.id)", user: w.user, at: w.end, members: j.bytes))
            }
        }
        return worn
    }

    /// The gear a workout goes to: the one it names, else the newest default for its sport,
    /// if the workout starts while the gear is in use.
    static func gearIndex(for w: Workout, in mine: [Item]) -> Int? {
        func inUse(_ item: Item) -> Bool { w.start >= item.addedAt && (item.retiredAt.map { w.start < $0 } ?? true) }
        if let named = w.gear { return mine.firstIndex { $0.id == named && inUse($0) } }
        return mine.lastIndex { $0.sports.contains(w.sport) && inUse($0) }
    }
}
