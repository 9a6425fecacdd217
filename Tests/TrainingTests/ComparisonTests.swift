import Foundation
import JSON
import Testing
@testable import Training

@Suite struct ComparisonTests {
    static let day: Int64 = 86_400_000
    static let t0: Int64 = 1_795_000_000_000

    func run(_ id: String, _ user: String, seconds: Int64, km: Double = 5.1, at start: Int64, source: String = "device", offset: Int64) -> Workout {
        Workout(id: id, user: user, source: source, sport: "run", start: start, durationMillis: seconds * 1000, distance: km * 1000, offset: offset)
    }

    @Test func smallCohortsAreExact() {
        var config = TrainingConfig()
        config.comparisons.exactUpTo = 100
        var state = TrainingState()
        var offset: Int64 = 0
        func add(_ w: Workout) -> [Comparison] {
            offset += 1
            return state.apply(w, config: config).comparisons
        }
        for (i, seconds) in [1500, 1600, 1700, 1800].enumerated() {
            _ = add(run("o\(i)", "other\(i)", seconds: Int64(seconds), at: Self.t0 + Int64(i) * Self.day, offset: offset))
        }
        _ = add(run("x0", "x", seconds: 1700, at: Self.t0 + 5 * Self.day, offset: offset))
        // An old result beyond the rolling 90 days, and a 10 km run, are outside the cohort.
        _ = add(run("old", "other9", seconds: 1000, at: Self.t0 - 100 * Self.day, offset: offset))
        _ = add(run("long", "other8", seconds: 1000, km: 10.2, at: Self.t0, offset: offset))
        let c = add(run("x1", "x", seconds: 1650, at: Self.t0 + 6 * Self.day, offset: offset)).first
        #expect(c?.band == "5k")
        #expect(c?.rank == 3)  // 1500 and 1600 are faster; x's own 1700 is not an "other"
        #expect(c?.cohortSize == 5)
        #expect(c?.percentile == 50)
        #expect(c?.medianSeconds == 1650)
        #expect(c?.bestSeconds == 1500)
        #expect(c?.exact == true)
        #expect(c?.personalBestSeconds == 1700)
        // A duplicate copy of x1 from a lower-priority source is not compared again.
        #expect(add(run("x1-strava", "x", seconds: 1655, at: Self.t0 + 6 * Self.day, source: "strava", offset: offset)).isEmpty)
    }

    @Test func largeCohortsRankFromTheSortedDurationsExactly() {
        var config = TrainingConfig()
        config.comparisons.exactUpTo = 10
        var state = TrainingState()
        for i in 0..<100 {
            _ = state.apply(run("o\(i)", "u\(i)", seconds: 1000 + Int64(i), at: Self.t0 + Int64(i) * 60_000, offset: Int64(i)), config: config)
        }
        let c = state.apply(run("x", "x", seconds: 1050, at: Self.t0 + Self.day, offset: 100), config: config).comparisons.first
        #expect(c?.rank == 51)  // 1000…1049 are faster
        #expect(c?.cohortSize == 101)
        #expect(c?.percentile == 49)  // 1051…1099 are slower: 49 of the 100 others
        #expect(c?.bestSeconds == 1000)
        #expect(c?.exact == true)
        #expect(c?.medianSeconds == 1049.5)  // (1049 + 1050) / 2 of the others 1000…1099
    }

    @Test func regionScopedCohortsCompareWithinTheRegion() throws {
        var config = TrainingConfig()
        config.comparisons.byRegion = true
        var state = TrainingState()
        for (user, region) in [("a", "RU-MOW"), ("b", "RU-SPE"), ("c", "RU-MOW")] {
            state.apply(profile: try JSONValue.parse(#"{"user":"\#(user)","region":"\#(region)"}"#).objectValue!)
        }
        _ = state.apply(run("a1", "a", seconds: 1500, at: Self.t0, offset: 1), config: config)
        _ = state.apply(run("b1", "b", seconds: 1400, at: Self.t0, offset: 2), config: config)
        let c = state.apply(run("c1", "c", seconds: 1600, at: Self.t0 + Self.day, offset: 3), config: config).comparisons.first
        #expect(c?.scope == "RU-MOW" && c?.cohortSize == 2 && c?.rank == 2 && c?.bestSeconds == 1500)
    }
}

/// The large-cohort path of ``Cohort/standing(of:user:from:to:exactUpTo:)`` (sorted durations
/// less what is outside the window) against a scan of every entry, on random cohorts with
/// late arrivals, evictions and users with several results.
@Suite struct CohortRankingTests {
    @Test func countsFromTheSortedDurationsEqualAScan() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3 {
            var cohort = Cohort()
            var newest: Int64 = 0
            for n in 0..<1200 {
                // Mostly in start order, one in ten up to a day late.
                let start = Int64(n) * 60_000 - (Int.random(in: 0..<10, using: &rng) == 0 ? Int64.random(in: 0...86_400_000, using: &rng) : 0)
                let user = "u\(Int.random(in: 0..<200, using: &rng))"
                let millis = Int64.random(in: 1_200_000...1_500_000, using: &rng) / 1000 * 1000
                if n % 300 == 299 { cohort.evict(before: newest - 2 * 86_400_000 / 3) }
                let from = start - 86_400_000
                let fast = cohort.standing(of: millis, user: user, from: from, to: start, scanUpTo: 10)
                let slow = cohort.standing(of: millis, user: user, from: from, to: start, scanUpTo: .max)
                #expect(fast == slow)
                if fast != slow { return }
                cohort.add(user: user, workout: "w\(n)", millis: millis, start: start)
                newest = max(newest, start)
            }
        }
    }
}
