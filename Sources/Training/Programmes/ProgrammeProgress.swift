import ClubKernel

/// Members' progress through programmes: enrolments (enrolled, paused, resumed, left) and the
/// state of each step, moved by counted workouts and by time. Pure and deterministic: the same
/// calls in the same order give the same state and the same outcomes.
///
/// The rule (the contract's, with the choices docs/training.md lists): a counted workout
/// fulfils an enrolment's next open step when its sport is the step's, it starts within the
/// step's day ± 1 day (shifted by pauses), after the workout that fulfilled an earlier step,
/// it is not a copy of a workout that fulfilled one, and it meets the step's targets within
/// 5 %. A step still open once the end of its day + 1 has passed is missed: passed by the
/// user's event time (the newest start of their workouts), or by the daemon's clock by more
/// than a grace period. The last step done completes the programme; the last step missed ends it.
public struct ProgrammeProgress: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case active, paused, left, completed
        /// Every step settled and the last one missed (an extension of the contract's states).
        case ended
    }

    public enum StepState: String, Sendable, Codable { case open, done, missed }

    public struct StepRecord: Sendable, Equatable, Codable {
        public var state: StepState = .open
        public var workout: String?
        public var result: Double?
        /// The fulfilling workout's span, to recognise a copy of it later.
        var start: Int64?
        var end: Int64?
        /// What the result is ranked by, and how, as the step's targets said when it was done.
        var score: Double?
        var kind: Targets.Kind?

        /// Whether `workout` is a copy of the one that fulfilled this step (the Training
        /// duplicate rule: spans overlapping by half of the shorter).
        func isCopy(of workout: Workout) -> Bool {
            guard let start, let end, start < end else { return false }
            return WorkoutBook.sameActivity(start..<end, workout.start..<workout.end)
        }
    }

    /// One user's enrolment in one programme.
    public struct Enrolment: Sendable, Equatable, Codable {
        public let programme: String
        /// 1 for the user's first enrolment in the programme, then 2, … (raised ids carry it).
        public let number: Int
        /// Day d of the programme is [start + (d−1)·24 h, start + d·24 h), shifted by pauses.
        public let start: Int64
        public internal(set) var state: State = .active
        var pausedAt: Int64?
        /// Time spent paused: every open step's day moves by it.
        public internal(set) var shift: Int64 = 0
        public internal(set) var steps: [StepRecord]

        /// The index of the first open step (`steps.count` if none): steps settle in order —
        /// a workout fulfils the first open one, time misses them from the first open on — so
        /// the settled steps are always the first ones.
        var firstOpen: Int {
            var i = 0
            while i < steps.count, steps[i].state != .open { i += 1 }
            return i
        }

        /// When step `day` may be fulfilled: its day ± 1 day, shifted by pauses.
        public func window(day: Int) -> Range<Int64> {
            let base = start + shift
            return (base + Int64(day - 2) * Self.day)..<(base + Int64(day + 1) * Self.day)
        }

        static let day: Int64 = 86_400_000
    }

    /// Something progress raised: the stage turns each one into an activity event.
    public enum Outcome: Sendable, Equatable {
        case stepCompleted(user: String, enrolment: Mark, step: Programme.Step, workout: Workout, result: Double?)
        case stepMissed(user: String, enrolment: Mark, step: Programme.Step, at: Int64)
        /// With how many of the enrolment's steps were done and missed.
        case programmeCompleted(user: String, enrolment: Mark, done: Int, missed: Int, at: Int64)
    }

    /// The enrolment an outcome belongs to, as it stood then: what the raised event names.
    /// (Not the enrolment itself: holding a copy of its steps would make the next change to
    /// them copy them all.)
    public struct Mark: Sendable, Equatable {
        public let programme: String
        public let number: Int
        public let state: State

        init(_ e: Enrolment) {
            programme = e.programme
            number = e.number
            state = e.state
        }
    }

    /// Why an enrolment event changed nothing: `not_enrolled`, `conflict`, `unknown_programme`,
    /// `invalid_timestamp`.
    public typealias Refusal = ClubKernel.Refusal

    /// Per user, their current enrolment in each programme.
    public private(set) var enrolments: [String: [Enrolment]] = [:]
    /// Per user, the newest start of their counted workouts.
    public private(set) var userTime: [String: Int64] = [:]
    /// Results per programme and step index, rebuilt from the enrolments when decoded.
    private var results: [StepKey: StepResults] = [:]

    private struct StepKey: Hashable {
        let programme: String
        let index: Int
    }
    /// No active enrolment has an open step whose day + 1 ends before this: the clock's
    /// ``expire(now:grace:catalogue:)`` has nothing to do until then (`.min`: not known, scan).
    private var earliestDeadline: Int64 = .min

    public init() {}

    private enum CodingKeys: String, CodingKey { case enrolments, userTime }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enrolments = try c.decode([String: [Enrolment]].self, forKey: .enrolments)
        userTime = try c.decode([String: Int64].self, forKey: .userTime)
        for list in enrolments.values {
            for enrolment in list { for (i, step) in enrolment.steps.enumerated() { Self.record(enrolment.programme, i, step, +1, in: &results) } }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enrolments, forKey: .enrolments)
        try c.encode(userTime, forKey: .userTime)
    }

    public static func == (a: Self, b: Self) -> Bool { a.enrolments == b.enrolments && a.userTime == b.userTime }

    // MARK: Enrolment events

    /// Enrols `user` (again: a new enrolment replaces the current one and starts over).
    public mutating func enrol(user: String, in programme: Programme, start: Int64) {
        defer { noteDeadline(user: user, programme) }
        var list = enrolments[user] ?? []
        let number: Int
        if let index = list.firstIndex(where: { $0.programme == programme.id }) {
            number = list[index].number + 1
            forgetResults(of: list.remove(at: index))
        } else {
            number = 1
        }
        list.append(Enrolment(programme: programme.id, number: number, start: start, steps: Array(repeating: StepRecord(), count: programme.steps.count)))
        enrolments[user] = list
    }

    /// Pauses an active enrolment at `at`.
    public mutating func pause(user: String, programme: String, at: Int64) throws(Refusal) {
        try change(user, programme, from: [.active]) { e in
            e.state = .paused
            e.pausedAt = at
        }
    }

    /// Resumes a paused enrolment: its open steps move by the time it was paused.
    public mutating func resume(user: String, programme: String, at: Int64, catalogue: Catalogue) throws(Refusal) {
        try change(user, programme, from: [.paused]) { e in
            e.shift += max(0, at - (e.pausedAt ?? at))
            e.pausedAt = nil
            e.state = .active
        }
        if let definition = catalogue.programme(programme) { noteDeadline(user: user, definition) }
    }

    /// Leaves an active or paused enrolment: nothing progresses any more.
    public mutating func leave(user: String, programme: String) throws(Refusal) {
        try change(user, programme, from: [.active, .paused]) { e in
            e.state = .left
            e.pausedAt = nil
        }
    }

    private mutating func change(_ user: String, _ programme: String, from states: Set<State>, _ body: (inout Enrolment) -> Void) throws(Refusal) {
        guard let index = enrolments[user]?.firstIndex(where: { $0.programme == programme }) else {
            throw Refusal(.notEnrolled, "user '\(user)' is not enrolled in programme '\(programme)'")
        }
        let state = enrolments[user]![index].state
        guard states.contains(state) else {
            throw Refusal(.conflict, "the enrolment in programme '\(programme)' is \(state.rawValue)")
        }
        body(&enrolments[user]![index])
    }

    // MARK: Workouts and time

    /// A workout that started counting: first the user's time moves to its start (steps it
    /// passed are missed), then it fulfils what it fits.
    /// - Parameter maxHeartRate: the user's maximum heart rate, for heart-rate zone targets.
    ///
    /// Called for every counted workout, so written to look each map up once and to change
    /// the user's enrolments in place (no copy of their steps, no programme copied out of the
    /// catalogue).
    public mutating func counted(_ workout: Workout, catalogue: Catalogue, maxHeartRate: @autoclosure () -> Double) -> [Outcome] {
        // The user's event time moves on to the workout's start: open steps whose day + 1 ended by then are missed.
        let user = workout.user, time = workout.start
        let moved: Bool
        if let slot = userTime.index(forKey: user) {
            moved = time > userTime.values[slot]
            if moved { userTime.values[slot] = time }
        } else {
            userTime[user] = time
            moved = true
        }
        guard let slot = enrolments.index(forKey: user) else { return [] }
        var outcomes: [Outcome] = []
        if moved { Self.miss(user: user, &enrolments.values[slot], catalogue: catalogue, into: &outcomes) { window in window.upperBound <= time } }
        for index in enrolments.values[slot].indices where enrolments.values[slot][index].state == .active {
            guard let p = catalogue.programmeIndex(enrolments.values[slot][index].programme) else { continue }
            Self.fulfil(
                workout, enrolment: &enrolments.values[slot][index], catalogue.programmes[p], results: &results, maxHeartRate: maxHeartRate,
                into: &outcomes)
        }
        return outcomes
    }

    private static func fulfil(
        _ workout: Workout, enrolment e: inout Enrolment, _ programme: Programme, results: inout [StepKey: StepResults], maxHeartRate: () -> Double,
        into outcomes: inout [Outcome]
    ) {
        guard let next = Self.fits(workout, e, programme) else { return }
        let step = programme.steps[next]
        let measured = step.targets.measure(workout, maxHeartRate: step.targets.hrZone == nil ? Targets.defaultMaxHeartRate : maxHeartRate())
        guard measured.met else { return }
        let done = StepRecord(
            state: .done, workout: workout.id, result: measured.result, start: workout.start, end: workout.end,
            score: Self.score(measured.result, step), kind: step.targets.principal)
        e.steps[next] = done
        Self.record(programme.id, next, done, +1, in: &results)
        if next == programme.steps.count - 1 { e.state = .completed }
        outcomes.append(.stepCompleted(user: workout.user, enrolment: Mark(e), step: step, workout: workout, result: measured.result))
        if e.state == .completed { outcomes.append(Self.completion(of: e, user: workout.user, at: workout.end)) }
    }

    /// The outcome of an enrolment's end.
    private static func completion(of e: Enrolment, user: String, at: Int64) -> Outcome {
        var (done, missed) = (0, 0)
        for step in e.steps {
            if step.state == .done { done += 1 } else if step.state == .missed { missed += 1 }
        }
        return .programmeCompleted(user: user, enrolment: Mark(e), done: done, missed: missed, at: at)
    }

    /// The index of the enrolment's next open step if `workout` may fulfil it (targets aside):
    /// its sport, its window, after and not a copy of the workouts that fulfilled earlier steps.
    private static func fits(_ workout: Workout, _ e: Enrolment, _ programme: Programme) -> Int? {
        let next = e.firstOpen
        guard next < min(e.steps.count, programme.steps.count) else { return nil }
        let step = programme.steps[next]
        guard workout.sport == step.sport, e.window(day: step.day).contains(workout.start) else { return nil }
        for done in e.steps[..<next] where done.state == .done {
            if (done.start ?? .min) >= workout.start || done.isCopy(of: workout) { return nil }
        }
        return next
    }

    /// Misses the open steps of every user whose day + 1 ended more than `grace` before `now`
    /// (the daemon's clock: users who stopped sending).
    /// Cheap until the earliest open step's deadline has passed: then one pass over every
    /// enrolment, which also finds the next deadline.
    public mutating func expire(now: Int64, grace: Int64, catalogue: Catalogue) -> [Outcome] {
        guard earliestDeadline == .min || (earliestDeadline < .max - grace && earliestDeadline + grace <= now) else { return [] }
        var outcomes: [Outcome] = []
        earliestDeadline = .max
        // By index, holding no other reference to the dictionary: each user's change is made in place.
        var index = enrolments.startIndex
        while index != enrolments.endIndex {
            let user = enrolments.keys[index]
            Self.miss(user: user, &enrolments.values[index], catalogue: catalogue, into: &outcomes) { window in window.upperBound + grace <= now }
            for e in enrolments.values[index] where e.state == .active {
                if let programme = catalogue.programme(e.programme), let deadline = Self.deadline(of: e, programme) {
                    earliestDeadline = min(earliestDeadline, deadline)
                }
            }
            index = enrolments.index(after: index)
        }
        return outcomes
    }

    /// Days of programmes may have moved (a catalogue reload): the next ``expire(now:grace:catalogue:)`` looks at every enrolment.
    public mutating func catalogueChanged() { earliestDeadline = .min }

    /// When the enrolment's first open step's day + 1 ends (nil: none open, or not active).
    static func deadline(of e: Enrolment, _ programme: Programme) -> Int64? {
        guard e.state == .active else { return nil }
        let next = e.firstOpen
        guard next < min(e.steps.count, programme.steps.count) else { return nil }
        return e.window(day: programme.steps[next].day).upperBound
    }

    /// Lowers the earliest deadline to the user's enrolment in `programme`'s, if earlier.
    private mutating func noteDeadline(user: String, _ programme: Programme) {
        guard earliestDeadline != .min, let e = enrolments[user]?.first(where: { $0.programme == programme.id }),
            let deadline = Self.deadline(of: e, programme)
        else { return }
        earliestDeadline = min(earliestDeadline, deadline)
    }

    /// Misses the open steps of `user`'s active enrolments whose window `passed`.
    private static func miss(
        user: String, _ list: inout [Enrolment], catalogue: Catalogue, into outcomes: inout [Outcome], passed: (Range<Int64>) -> Bool
    ) {
        for index in list.indices where list[index].state == .active {
            guard let p = catalogue.programmeIndex(list[index].programme) else { continue }
            let steps = catalogue.programmes[p].steps
            let count = min(list[index].steps.count, steps.count)
            var i = list[index].firstOpen
            while i < count {
                let window = list[index].window(day: steps[i].day)
                guard passed(window) else { break }  // days go forward: later steps end later
                list[index].steps[i].state = .missed
                if i == list[index].steps.count - 1 { list[index].state = .ended }  // the last step, and none open before it
                outcomes.append(.stepMissed(user: user, enrolment: Mark(list[index]), step: steps[i], at: window.upperBound))
                i += 1
            }
        }
    }

    // MARK: Results

    /// The share of other users' results on the same step that `user`'s result beats, for
    /// each step of their enrolment in `programme` (nil where the step has no result or no
    /// other user has one).
    public func percentiles(user: String, programme: String) -> [Double?] {
        guard let e = enrolments[user]?.first(where: { $0.programme == programme }) else { return [] }
        return e.steps.enumerated().map { i, step in
            guard step.state == .done, let score = step.score, let kind = step.kind else { return nil }
            return results[StepKey(programme: programme, index: i)]?.percentile(of: score, lowerIsBetter: kind.lowerIsBetter)
        }
    }

    /// What a result is ranked by: the value itself, or for a heart-rate zone its distance
    /// from the zone's middle.
    static func score(_ result: Double?, _ step: Programme.Step) -> Double? {
        guard let result else { return nil }
        guard step.targets.principal == .hrZone, let zone = step.targets.hrZone else { return result }
        return abs(result - (Double(zone) + 0.5))
    }

    private mutating func forgetResults(of enrolment: Enrolment) {
        for (i, step) in enrolment.steps.enumerated() { Self.record(enrolment.programme, i, step, -1, in: &results) }
    }

    private static func record(_ programme: String, _ index: Int, _ step: StepRecord, _ delta: Int, in results: inout [StepKey: StepResults]) {
        guard step.state == .done, let score = step.score else { return }
        if delta > 0 {
            results[StepKey(programme: programme, index: index), default: StepResults()].add(score)
        } else {
            results[StepKey(programme: programme, index: index)]?.remove(score)
        }
    }
}
