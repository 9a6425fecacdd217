import Bonus
import ClubKernel
import JSON
import Training

/// What the offer stage knows about one user, learned from the activity log: the profile,
/// the counted workouts (copies from several sources count once) and personal records.
public struct UserFacts: Sendable, Equatable, Codable {
    public var region: String?
    public var interests: [String] = []
    public var workouts = WorkoutBook()
    /// The fastest time in seconds over each distance in metres (from `record.personal`).
    public var bests: [Double: Double] = [:]

    public init() {}

    /// Whether events of `type` teach facts (others need not be read for them).
    public static func learns(from type: String) -> Bool {
        type == "profile" || type == "workout" || type == "record.personal" || type == "imports.deleted"
    }

    /// Learns from an activity event of this user.
    public mutating func learn(_ event: ActivityEvent, sourcePriority: [String]) {
        switch event.type {
        case "profile":
            if let region = event.body["region"]?.stringValue { self.region = region }
            if let interests = event.body["interests"]?.arrayValue { self.interests = interests.compactMap(\.stringValue) }
        case "workout":
            if case .success(let workout) = Workout.from(event.body, offset: event.offset) {
                _ = workouts.add(workout, priority: sourcePriority)
            }
        case "imports.deleted":
            if let system = event.body["system"]?.stringValue {
                _ = workouts.forgetImports(from: system, priority: sourcePriority)
            }
        case "record.personal":
            if let distance = event.body["distance_m"]?.doubleValue, let seconds = event.body["time_s"]?.doubleValue {
                bests[distance] = min(bests[distance] ?? .infinity, seconds)
            }
        default:
            break
        }
    }

    /// The value of a fact when `event` triggers; periods are those holding the event's time.
    func value(of fact: UserFact, event: ActivityEvent, calendar: LocalCalendar, balance: Int?) -> Value {
        func totals(_ period: (Int64) -> Int64) -> (distance: Double, count: Int) {
            let key = period(event.at)
            var total = (distance: 0.0, count: 0)
            for workout in counted where period(workout.start) == key {
                total.distance += workout.distance
                total.count += 1
            }
            return total
        }
        switch fact {
        case .region: return region.map(Value.string) ?? .missing
        case .interests: return .list(interests.map(Value.string))
        case .balance: return balance.map { .number(Double($0)) } ?? .missing
        case .distanceWeek: return .number(totals(calendar.week).distance)
        case .distanceMonth: return .number(totals(calendar.month).distance)
        case .distanceYear: return .number(totals(calendar.year).distance)
        case .distanceTotal: return .number(counted.reduce(0) { $0 + $1.distance })
        case .workoutsWeek: return .number(Double(totals(calendar.week).count))
        case .workoutsMonth: return .number(Double(totals(calendar.month).count))
        case .workoutsTotal: return .number(Double(workouts.counted.count))
        case .gearDistance:
            guard let gear = event.body["gear"]?.stringValue else { return .missing }
            return .number(counted.filter { $0.gear == gear }.reduce(0) { $0 + $1.distance })
        }
    }

    private var counted: [Workout] { workouts.workouts.filter { workouts.counted.contains($0.id) } }
}
