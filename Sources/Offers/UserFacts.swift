import Bonus
import ClubKernel
import JSON
import Training

/// What the offer rules know about one user: the profile, the counted workouts (copies from
/// several sources count once), gear and personal records. In the daemon the training stage
/// learns all but the records and hands them on with each event (``init(region:interests:workouts:gear:)``);
/// ``learn(_:sourcePriority:)`` learns them from the log where nothing else does (a preview).
public struct UserFacts: Sendable, Equatable, Codable {
    public var region: String?
    public var interests: [String] = []
    public var workouts = WorkoutBook()
    /// The fastest time in seconds over each distance in metres (from `record.personal`).
    public var bests: [Double: Double] = [:]
    /// The user's gear and its mileage, kept by the same rules as the training stage's (the
    /// `gear` op's numbers); nil until the first `gear.*` event (and in facts saved before).
    public var gear: GearBook?

    public init() {}

    /// Facts learned elsewhere (the training stage's), without personal records.
    public init(region: String?, interests: [String], workouts: WorkoutBook, gear: GearBook?) {
        self.region = region
        self.interests = interests
        self.workouts = workouts
        self.gear = gear
    }

    /// The personal records alone: what the offer stage learns and keeps itself.
    public var records: UserFacts {
        var facts = UserFacts()
        facts.bests = bests
        return facts
    }

    /// The type of event that teaches personal records.
    public static let recordType = "record.personal"

    /// The types of event that teach facts (others need not be read for them).
    public static let types: Set<String> = GearBook.types.union(["profile", "workout", recordType, "imports.deleted"])

    /// Whether events of `type` teach facts.
    public static func learns(from type: String) -> Bool { types.contains(type) }

    /// Learns from an activity event of this user.
    public mutating func learn(_ event: ActivityEvent, sourcePriority: [String]) {
        switch event.type {
        case "profile":
            if let region = event.body["region"]?.stringValue { self.region = region }
            if let interests = event.body["interests"]?.arrayValue { self.interests = interests.compactMap(\.stringValue) }
        case "workout":
            if case .success(let workout) = Workout.from(event.body, offset: event.offset) {
                place(workouts.add(workout, priority: sourcePriority))
            }
        case "imports.deleted":
            if let system = event.body["system"]?.stringValue {
                place(workouts.forgetImports(from: system, priority: sourcePriority))
            }
        case let type where GearBook.types.contains(type):
            var book = gear ?? GearBook()
            do throws(Refusal) { try book.apply(event) } catch {}  // refused: the training stage says why on `rejected`
            gear = book
        case Self.recordType:
            if let distance = event.body["distance_m"]?.doubleValue, let seconds = event.body["time_s"]?.doubleValue {
                bests[distance] = min(bests[distance] ?? .infinity, seconds)
            }
        default:
            break
        }
    }

    /// Moves the mileage of workouts that started or stopped counting (one copy per activity).
    private mutating func place(_ change: WorkoutBook.Change) {
        guard var book = gear else { return }
        _ = book.place(counted: change.nowCounted, uncounted: change.noLongerCounted)
        gear = book
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
            // The gear the event names (a workout's, a `gear.worn`'s), else for a workout the
            // user's default gear for its sport: its distance as the `gear` op has it.
            let mine = gear?.gear(of: event.user) ?? []
            if let id = event.body["gear"]?.stringValue { return mine.first { $0.id == id }.map { .number($0.distance) } ?? .missing }
            guard event.type == "workout", let sport = event.body["sport"]?.stringValue,
                let item = mine.last(where: { $0.sports.contains(sport) && $0.retiredAt.map { $0 > event.at } ?? true })
            else { return .missing }
            return .number(item.distance)
        }
    }

    private var counted: [Workout] { workouts.workouts.filter { workouts.counted.contains($0.id) } }
}
