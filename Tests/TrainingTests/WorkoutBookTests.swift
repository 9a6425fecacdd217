import Testing
@testable import Training

@Suite struct WorkoutBookTests {
    static let priority = ["device", "garmin", "strava"]
    static let t0: Int64 = 1_795_780_800_000

    func workout(_ id: String, _ source: String, start: Int64, minutes: Int64, km: Double = 5, offset: Int64) -> Workout {
        Workout(id: id, user: "u", source: source, sport: "run", start: start, durationMillis: minutes * 60_000, distance: km * 1000, offset: offset)
    }

    @Test func theWatchCopyBeatsTheServiceCopyWhicheverArrivesFirst() {
        var book = WorkoutBook()
        let strava = workout("s", "strava", start: Self.t0 + 60_000, minutes: 30, offset: 1)
        let watch = workout("w", "device", start: Self.t0, minutes: 31, offset: 2)
        #expect(book.add(strava, priority: Self.priority) == .init(nowCounted: [strava], noLongerCounted: []))
        #expect(book.add(watch, priority: Self.priority) == .init(nowCounted: [watch], noLongerCounted: [strava]))
        #expect(book.counted == ["w"])
        // A third copy from a lower-priority source changes nothing; a repeated id neither.
        #expect(book.add(workout("g", "garmin", start: Self.t0, minutes: 31, offset: 3), priority: Self.priority) == .init())
        #expect(book.add(watch, priority: Self.priority) == .init())
        #expect(book.counted == ["w"])
    }

    /// Deleting a user's imports from one system: its workouts go, and a copy they hid counts.
    @Test func removingTheCountedCopyLetsTheNextOneCount() {
        var book = WorkoutBook()
        let garmin = workout("g", "garmin", start: Self.t0, minutes: 31, offset: 1)
        let strava = workout("s", "strava", start: Self.t0 + 60_000, minutes: 30, offset: 2)
        let other = workout("o", "garmin", start: Self.t0 + 86_400_000, minutes: 20, offset: 3)
        for w in [garmin, strava, other] { _ = book.add(w, priority: Self.priority) }
        #expect(book.counted == ["g", "o"])
        let change = book.remove(where: { $0.source == "garmin" }, priority: Self.priority)
        #expect(Set(change.noLongerCounted.map(\.id)) == ["g", "o"] && change.nowCounted == [strava])
        #expect(book.counted == ["s"] && book.workouts == [strava])
        #expect(book.remove(where: { $0.source == "garmin" }, priority: Self.priority) == .init())
    }

    @Test func sameSourcePriorityKeepsTheFirstArrival() {
        var book = WorkoutBook()
        _ = book.add(workout("a", "polar", start: Self.t0, minutes: 40, offset: 5), priority: Self.priority)
        _ = book.add(workout("b", "suunto", start: Self.t0 + 5 * 60_000, minutes: 40, offset: 6), priority: Self.priority)
        #expect(book.counted == ["a"])  // both unlisted: the earlier in the log counts
    }

    @Test func overlapMustCoverHalfOfTheShorterWorkout() {
        // A 60-minute ride and a 20-minute run sharing 9 minutes are two activities;
        // sharing 10 minutes, they are one.
        let ride = workout("ride", "device", start: Self.t0, minutes: 60, offset: 1)
        let apart = workout("run1", "strava", start: Self.t0 + 51 * 60_000, minutes: 20, offset: 2)
        let overlapping = workout("run2", "strava", start: Self.t0 + 50 * 60_000, minutes: 20, offset: 3)
        #expect(!WorkoutBook.sameActivity(ride, apart))
        #expect(WorkoutBook.sameActivity(ride, overlapping))
        var book = WorkoutBook()
        _ = book.add(ride, priority: Self.priority)
        _ = book.add(apart, priority: Self.priority)
        #expect(book.counted == ["ride", "run1"])
    }
}
