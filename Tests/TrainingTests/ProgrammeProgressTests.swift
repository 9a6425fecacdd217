import Foundation
import Testing

@testable import Training

@Suite struct ProgrammeProgressTests {
    static let day: Int64 = 86_400_000
    static let start: Int64 = 1_796_083_200_000  // 2026-12-01T00:00:00Z

    /// Three runs (days 1, 3, 5: 20 min, 3 km, pace 6:00/km) and a strength step (day 6, 20 reps).
    static let catalogue = Catalogue(
        exercises: [],
        programmes: [
            Programme(
                id: "p", title: "Plan", sport: "run", weeks: 1,
                steps: [
                    .init(step: 1, day: 1, exercise: "a", sport: "run", targets: Targets(durationSeconds: 1200), overrides: Targets()),
                    .init(step: 2, day: 3, exercise: "b", sport: "run", targets: Targets(distanceMeters: 3000), overrides: Targets()),
                    .init(step: 3, day: 5, exercise: "c", sport: "run", targets: Targets(paceSecondsPerKm: 360), overrides: Targets()),
                    .init(step: 4, day: 6, exercise: "d", sport: "strength", targets: Targets(reps: 20), overrides: Targets()),
                ])
        ])
    static var plan: Programme { catalogue.programme("p")! }

    static func run(_ id: String, user: String = "u", day: Int, hour: Int64 = 8, minutes: Double, km: Double = 0, sport: String = "run", reps: Int? = nil)
        -> Workout
    {
        Workout(
            id: id, user: user, source: "device", sport: sport, start: start + Int64(day - 1) * Self.day + hour * 3_600_000,
            durationMillis: Int64(minutes * 60_000), distance: km * 1000, reps: reps)
    }

    static func enrolled(_ users: [String] = ["u"]) -> ProgrammeProgress {
        var p = ProgrammeProgress()
        for user in users { p.enrol(user: user, in: plan, start: start) }
        return p
    }

    func counted(_ p: inout ProgrammeProgress, _ w: Workout) -> [ProgrammeProgress.Outcome] {
        p.counted(w, catalogue: Self.catalogue, maxHeartRate: 190)
    }

    func states(_ p: ProgrammeProgress, _ user: String = "u") -> [ProgrammeProgress.StepState] {
        p.enrolments[user]?.first?.steps.map(\.state) ?? []
    }

    @Test func aMatchingWorkoutCompletesTheNextStepWithItsResult() {
        var p = Self.enrolled()
        let outcomes = counted(&p, Self.run("w1", day: 1, minutes: 20))
        guard case .stepCompleted(_, _, let step, let workout, let result)? = outcomes.first else {
            Issue.record("no step completed: \(outcomes)")
            return
        }
        #expect(step.step == 1 && workout.id == "w1" && result == 1200)
        #expect(states(p) == [.done, .open, .open, .open])
    }

    @Test func workoutsThatDoNotFitCompleteNothing() {
        var p = Self.enrolled()
        #expect(counted(&p, Self.run("ride", day: 1, minutes: 60, sport: "ride")).isEmpty)  // wrong sport
        #expect(counted(&p, Self.run("short", day: 1, minutes: 18.9)).isEmpty)  // 1134 s < 95 % of 1200 s
        #expect(counted(&p, Self.run("early", day: -1, minutes: 30)).isEmpty)  // before day 1 − 1
        #expect(states(p) == [.open, .open, .open, .open])
        // Within 5 % counts: 19 min is 1140 s, exactly 95 %.
        #expect(counted(&p, Self.run("ok", day: 0, hour: 1, minutes: 19)).count == 1)
    }

    @Test func aCopyOrAnEarlierWorkoutFulfilsNothingTwice() {
        var p = Self.enrolled()
        _ = counted(&p, Self.run("device", day: 2, minutes: 25, km: 4))  // day 2 is within step 1's day ± 1
        // A Strava copy of the same run (overlapping it) that the book counts instead later:
        var copy = Self.run("strava", day: 2, minutes: 25, km: 4)
        copy = Workout(id: "strava", user: "u", source: "strava", sport: "run", start: copy.start + 60_000, durationMillis: copy.durationMillis, distance: 4000)
        #expect(counted(&p, copy).isEmpty)
        // A run earlier than the one that did step 1 cannot do step 2.
        #expect(counted(&p, Self.run("before", day: 2, hour: 6, minutes: 30, km: 5)).isEmpty)
        #expect(counted(&p, Self.run("after", day: 3, minutes: 30, km: 5)).count == 1)
        #expect(states(p) == [.done, .done, .open, .open])
    }

    @Test func theUsersEventTimeMissesStepsAndTheNextOneCanStillBeDone() {
        var p = Self.enrolled()
        // A run on day 5 passes the end of day 2 (step 1) and of day 4 (step 2): both missed first.
        let outcomes = counted(&p, Self.run("w", day: 5, minutes: 30, km: 5))
        var missed: [String] = []
        for outcome in outcomes {
            if case .stepMissed(_, _, let step, let at) = outcome { missed.append("\(step.step)@\((at - Self.start) / Self.day)") }
        }
        #expect(missed == ["1@2", "2@4"])  // the ends of days 2 and 4
        #expect(states(p) == [.missed, .missed, .done, .open])
    }

    @Test func theClockMissesStepsOnlyAfterTheGrace() {
        var p = Self.enrolled()
        let grace = 7 * Self.day
        #expect(p.expire(now: Self.start + 2 * Self.day + grace - 1, grace: grace, catalogue: Self.catalogue).isEmpty)
        #expect(p.expire(now: Self.start + 2 * Self.day + grace, grace: grace, catalogue: Self.catalogue).count == 1)
        // A late import for step 2 (day 3) still counts: its day + 1 + grace has not passed.
        #expect(counted(&p, Self.run("import", day: 3, minutes: 20, km: 3)).count == 1)
        #expect(states(p) == [.missed, .done, .open, .open])
    }

    @Test func theClockLooksAgainWhenAnEarlierDeadlineArrives() {
        var p = Self.enrolled()
        let grace = Self.day
        // Nothing is due for u a day in (step 1 ends with day 2, plus a day of grace).
        #expect(p.expire(now: Self.start + Self.day, grace: grace, catalogue: Self.catalogue).isEmpty)
        // v enrols in the plan as started ten days earlier: all four steps are overdue at once.
        p.enrol(user: "v", in: Self.plan, start: Self.start - 10 * Self.day)
        #expect(p.expire(now: Self.start + Self.day, grace: grace, catalogue: Self.catalogue).count == 4)
        #expect(states(p, "u") == [.open, .open, .open, .open])
    }

    @Test func aPauseMovesTheOpenStepsByItsLength() throws {
        var p = Self.enrolled()
        _ = counted(&p, Self.run("w1", day: 1, minutes: 20))
        try p.pause(user: "u", programme: "p", at: Self.start + Self.day)
        #expect(counted(&p, Self.run("paused", day: 3, minutes: 30, km: 5)).isEmpty)  // paused: nothing progresses
        #expect(p.expire(now: Self.start + 100 * Self.day, grace: 0, catalogue: Self.catalogue).isEmpty)
        try p.resume(user: "u", programme: "p", at: Self.start + 11 * Self.day, catalogue: Self.catalogue)
        #expect(throws: ProgrammeProgress.Refusal.self) { try p.resume(user: "u", programme: "p", at: 0, catalogue: Self.catalogue) }
        // Ten days paused: step 2 (day 3) is now due on day 13, ± 1.
        let e = try #require(p.enrolments["u"]?.first)
        #expect(e.shift == 10 * Self.day)
        #expect(e.window(day: 3) == (Self.start + 11 * Self.day)..<(Self.start + 14 * Self.day))
        #expect(counted(&p, Self.run("after", day: 13, minutes: 20, km: 3)).count == 1)
        #expect(states(p) == [.done, .done, .open, .open])
    }

    @Test func theLastStepCompletesTheProgrammeOrEndsIt() throws {
        var p = Self.enrolled(["a", "b"])
        _ = counted(&p, Self.run("a1", user: "a", day: 1, minutes: 20))
        _ = counted(&p, Self.run("a2", user: "a", day: 3, minutes: 20, km: 3))
        _ = counted(&p, Self.run("a3", user: "a", day: 5, minutes: 20, km: 4))  // 5:00/km
        let last = counted(&p, Self.run("a4", user: "a", day: 6, minutes: 15, sport: "strength", reps: 19))  // 95 % of 20
        #expect(last.count == 2)
        guard case .programmeCompleted(_, let e, let done, let missed, _)? = last.last else { throw Failure("no completion: \(last)") }
        #expect(e.state == .completed && done == 4 && missed == 0)
        #expect(p.enrolments["a"]?.first?.state == .completed)
        // b misses everything: the last step missed ends the programme.
        _ = p.expire(now: Self.start + 30 * Self.day, grace: Self.day, catalogue: Self.catalogue)
        #expect(states(p, "b") == [.missed, .missed, .missed, .missed])
        #expect(p.enrolments["b"]?.first?.state == .ended)
        #expect(throws: ProgrammeProgress.Refusal.self) { try p.pause(user: "c", programme: "p", at: 0) }
    }

    @Test func percentilesRankOtherUsersResultsOnTheSameStep() throws {
        var p = Self.enrolled(["a", "b", "c", "d"])
        // Step 1 measures the duration (more is better); step 3 the pace (less is better).
        for (user, minutes) in [("a", 20.0), ("b", 30.0), ("c", 40.0), ("d", 50.0)] {
            _ = counted(&p, Self.run("\(user)1", user: user, day: 1, minutes: minutes))
            _ = counted(&p, Self.run("\(user)2", user: user, day: 3, minutes: 20, km: 3))
            _ = counted(&p, Self.run("\(user)3", user: user, day: 5, minutes: minutes / 2, km: 5))  // a fastest
        }
        #expect(p.percentiles(user: "d", programme: "p")[0] == 100)
        #expect(p.percentiles(user: "a", programme: "p")[0] == 0)
        #expect(p.percentiles(user: "b", programme: "p")[0] == 33.3)
        #expect(p.percentiles(user: "a", programme: "p")[2] == 100)
        #expect(p.percentiles(user: "d", programme: "p")[2] == 0)
        #expect(p.percentiles(user: "a", programme: "p")[3] == nil)  // not done
        // The state survives encoding with the same ranks; a new enrolment leaves the ranking.
        var decoded = try JSONDecoder().decode(ProgrammeProgress.self, from: JSONEncoder().encode(p))
        #expect(decoded == p)
        #expect(decoded.percentiles(user: "b", programme: "p") == p.percentiles(user: "b", programme: "p"))
        decoded.enrol(user: "d", in: Self.plan, start: Self.start)
        #expect(decoded.enrolments["d"]?.first?.number == 2)
        #expect(decoded.percentiles(user: "c", programme: "p")[0] == 100)  // d's 50 min left the step
    }

    @Test func stepResultsRankInBuckets() {
        var r = StepResults()
        for v in [1.0, 2, 3, 4, 5] { r.add(v) }
        #expect(r.percentile(of: 3, lowerIsBetter: false) == 50)
        #expect(r.percentile(of: 3, lowerIsBetter: true) == 50)
        #expect(r.percentile(of: 5, lowerIsBetter: false) == 100)
        r.remove(5)
        #expect(r.count == 4)
        #expect(r.percentile(of: 4, lowerIsBetter: false) == 100)
        var alone = StepResults()
        alone.add(7)
        #expect(alone.percentile(of: 7, lowerIsBetter: true) == nil)
    }

    @Test func heartRateZonesAreFractionsOfTheMaximum() {
        let zone3 = Targets(hrZone: 3)  // 70–80 % of the maximum, within 5 %
        let w = { (hr: Double) in Workout(id: "h", user: "u", source: "device", sport: "run", start: 0, durationMillis: 1_800_000, averageHeartRate: hr) }
        #expect(zone3.measure(w(142), maxHeartRate: 190).met)  // 74.7 %
        #expect(zone3.measure(w(127), maxHeartRate: 190).met)  // 66.8 % ≥ 66.5 %
        #expect(!zone3.measure(w(125), maxHeartRate: 190).met)
        #expect(!zone3.measure(w(165), maxHeartRate: 190).met)  // 86.8 % > 84 %
        #expect(zone3.measure(w(142), maxHeartRate: 190).result == 3.47)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}
