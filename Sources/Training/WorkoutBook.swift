/// A user's workouts, deciding which ones count when copies of one activity arrive from
/// several sources.
///
/// Matching rule: two workouts of a user are copies of one activity when their time spans
/// overlap by at least half of the shorter one. Copies are grouped transitively; within a
/// group, workouts count in order of precedence — the source that comes first in the source
/// priority (sources not listed come after those listed), then the one that reached the
/// activity log first — skipping any that is a copy of one already counted. So no two counted
/// workouts are copies of each other, and the outcome does not depend on arrival order.
public struct WorkoutBook: Sendable, Equatable, Codable {
    public private(set) var workouts: [Workout] = []
    /// Ids of the workouts that count.
    public private(set) var counted: Set<String> = []

    public init() {}

    /// What adding a workout changed: workouts that started or stopped counting.
    public struct Change: Sendable, Equatable {
        public var nowCounted: [Workout] = []
        public var noLongerCounted: [Workout] = []
    }

    /// Adds a workout (a repeated id changes nothing) and settles its group of copies again.
    public mutating func add(_ workout: Workout, priority: [String]) -> Change {
        guard !workouts.contains(where: { $0.id == workout.id }) else { return Change() }
        workouts.append(workout)
        var group = [workout]
        var grouped: Set<String> = [workout.id]
        var frontier = [workout]
        while let next = frontier.popLast() {
            for other in workouts where !grouped.contains(other.id) && Self.sameActivity(next, other) {
                grouped.insert(other.id)
                group.append(other)
                frontier.append(other)
            }
        }
        return settle(group, priority: priority)
    }

    /// Forgets the workouts imported from `system`, and the sessions derived from their
    /// samples (telemetry workouts that are copies of them), settling the rest again.
    public mutating func forgetImports(from system: String, priority: [String]) -> Change {
        let imported = workouts.filter { $0.source == system }
        let derived = workouts.filter { w in
            w.source == Workout.telemetrySource && imported.contains { Self.sameActivity($0, w) }
        }
        let ids = Set((imported + derived).map(\.id))
        return remove(where: { ids.contains($0.id) }, priority: priority)
    }

    /// Removes the workouts `shouldRemove` selects (the user deleted imported data) and
    /// settles again the copies they overlapped: one of those may count now.
    public mutating func remove(where shouldRemove: (Workout) -> Bool, priority: [String]) -> Change {
        let removed = workouts.filter(shouldRemove)
        guard !removed.isEmpty else { return Change() }
        var change = Change()
        for workout in removed where counted.remove(workout.id) != nil { change.noLongerCounted.append(workout) }
        workouts.removeAll(where: shouldRemove)
        var group: [Workout] = []
        var frontier = removed
        while let next = frontier.popLast() {
            for other in workouts where !group.contains(where: { $0.id == other.id }) && Self.sameActivity(next, other) {
                group.append(other)
                frontier.append(other)
            }
        }
        let settled = settle(group, priority: priority)
        change.nowCounted += settled.nowCounted
        change.noLongerCounted += settled.noLongerCounted
        return change
    }

    /// Counts the members of a group of copies by precedence, none a copy of another counted.
    private mutating func settle(_ group: [Workout], priority: [String]) -> Change {
        var chosen: [Workout] = []
        for candidate in group.sorted(by: { Self.precedes($0, $1, priority: priority) })
        where !chosen.contains(where: { Self.sameActivity($0, candidate) }) {
            chosen.append(candidate)
        }
        let chosenIDs = Set(chosen.map(\.id))
        var change = Change()
        for member in group {
            let was = counted.contains(member.id)
            let now = chosenIDs.contains(member.id)
            if was && !now {
                counted.remove(member.id)
                change.noLongerCounted.append(member)
            } else if !was && now {
                counted.insert(member.id)
                change.nowCounted.append(member)
            }
        }
        return change
    }

    /// The two spans overlap by at least half of the shorter one.
    public static func sameActivity(_ a: Workout, _ b: Workout) -> Bool { sameActivity(a.start..<a.end, b.start..<b.end) }

    /// Spans of two workouts that overlap by at least half of the shorter one.
    public static func sameActivity(_ a: Range<Int64>, _ b: Range<Int64>) -> Bool {
        let overlap = min(a.upperBound, b.upperBound) - max(a.lowerBound, b.lowerBound)
        return overlap > 0 && 2 * overlap >= min(a.upperBound - a.lowerBound, b.upperBound - b.lowerBound)
    }

    static func precedes(_ a: Workout, _ b: Workout, priority: [String]) -> Bool {
        let ra = priority.firstIndex(of: a.source) ?? priority.count
        let rb = priority.firstIndex(of: b.source) ?? priority.count
        return ra != rb ? ra < rb : a.offset < b.offset
    }
}
