/// A user's workouts, deciding which ones count when copies of one activity arrive from
/// several sources.
///
/// Matching rule: two workouts of a user are the same activity when their time spans overlap
/// by at least half of the shorter one. Of a group of such copies exactly one counts: the one
/// whose source comes first in the source priority (sources not listed come after those
/// listed), then the one that reached the activity log first.
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

    /// Adds a workout (a repeated id changes nothing).
    public mutating func add(_ workout: Workout, priority: [String]) -> Change {
        guard !workouts.contains(where: { $0.id == workout.id }) else { return Change() }
        let copies = workouts.filter { Self.sameActivity($0, workout) }
        workouts.append(workout)
        let group = copies + [workout]
        let winner = group.min { Self.precedes($0, $1, priority: priority) }!
        var change = Change()
        for w in group where w.id != winner.id && counted.contains(w.id) {
            counted.remove(w.id)
            change.noLongerCounted.append(w)
        }
        if !counted.contains(winner.id) {
            counted.insert(winner.id)
            change.nowCounted.append(winner)
        }
        return change
    }

    /// The two spans overlap by at least half of the shorter one.
    public static func sameActivity(_ a: Workout, _ b: Workout) -> Bool {
        let overlap = min(a.end, b.end) - max(a.start, b.start)
        return overlap > 0 && 2 * overlap >= min(a.durationMillis, b.durationMillis)
    }

    static func precedes(_ a: Workout, _ b: Workout, priority: [String]) -> Bool {
        let ra = priority.firstIndex(of: a.source) ?? priority.count
        let rb = priority.firstIndex(of: b.source) ?? priority.count
        return ra != rb ? ra < rb : a.offset < b.offset
    }
}
