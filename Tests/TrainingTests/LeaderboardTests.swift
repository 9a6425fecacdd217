import Foundation
import JSON
import Testing
@testable import Training

@Suite struct LeaderboardTests {
    static let moscow = TimeZone(identifier: "Europe/Moscow")!
    @Test(arguments: [
        (Period.day, "2026-11-27"), (.week, "2026-W48"), (.month, "2026-11"), (.year, "2026"), (.allTime, "all"),
    ])
    func periodKeysFollowTheLocalCalendar(period: Period, key: String) {
        // 2026-11-26 21:50 UTC is already Friday the 27th in Moscow.
        #expect(period.key(of: 1_795_729_800_000, in: Self.moscow) == key)
    }

    @Test func isoWeeksBelongToTheirThursdaysYear() {
        // Friday 2027-01-01 is in week 53 of 2026; Monday 2027-01-04 starts week 1 of 2027.
        let utc = TimeZone(identifier: "UTC")!
        #expect(Period.week.key(of: 1_798_761_600_000, in: utc) == "2026-W53")
        #expect(Period.week.key(of: 1_799_020_800_000, in: utc) == "2027-W01")
    }

    @Test func tiesGoToWhoReachedTheValueFirstThenToTheUserID() {
        var s = Standings(ascending: false, sums: true)
        s.set(user: "c", workout: "c1", value: 10, at: 300)
        s.set(user: "b", workout: "b1", value: 10, at: 100)
        s.set(user: "a", workout: "a1", value: 10, at: 100)
        s.set(user: "d", workout: "d1", value: 12, at: 900)
        #expect(s.ranking.map(\.user) == ["d", "a", "b", "c"])
        s.set(user: "c", workout: "c2", value: 5, at: 400)  // c reaches 15
        #expect(s.ranking.map(\.user) == ["c", "d", "a", "b"])
        s.set(user: "c", workout: "c2", value: nil, at: 400)  // c's second workout stops counting
        #expect(s.ranking.map(\.user) == ["d", "a", "b", "c"])
        #expect(s.rank(of: "b")?.rank == 3)
        s.set(user: "d", workout: "d1", value: nil, at: 900)
        #expect(s.rank(of: "d") == nil && s.count == 3)
    }

    /// Standings are stored as their contributions only; decoding ranks them again — in full
    /// chunks, which later changes keep working on — and reads the older nested format.
    @Test(arguments: [true, false])
    func standingsSurviveEncodingAndKeepRanking(sums: Bool) throws {
        var s = Standings(ascending: !sums, sums: sums)
        var rng = SystemRandomNumberGenerator()
        for n in 0..<5_000 {
            let user = "u\(Int.random(in: 0..<1_500, using: &rng))"
            s.set(user: user, workout: "w\(n)", value: Double(Int.random(in: 0..<50, using: &rng)), at: Int64.random(in: 0..<1_000, using: &rng))
            if n % 7 == 0 { s.set(user: user, workout: "w\(n)", value: nil, at: 0) }
        }
        var decoded = try JSONDecoder().decode(Standings.self, from: JSONEncoder().encode(s))
        #expect(decoded == s)
        #expect(decoded.ranking == s.ranking)
        #expect(decoded.count == s.count)
        #expect(decoded.rank(of: "u7")?.rank == s.rank(of: "u7")?.rank)
        for n in 0..<2_000 {
            let user = "u\(Int.random(in: 0..<1_500, using: &rng))"
            let value = n % 3 == 0 ? nil : Double(Int.random(in: 0..<50, using: &rng))
            s.set(user: user, workout: "x\(n % 300)", value: value, at: Int64(n))
            decoded.set(user: user, workout: "x\(n % 300)", value: value, at: Int64(n))
        }
        #expect(decoded.ranking == s.ranking)
        #expect(decoded.rank(of: "u9")?.rank == s.rank(of: "u9")?.rank)
    }

    @Test func standingsReadTheNestedFormatAndRefuseUnequalArrays() throws {
        let nested = #"{"ascending":false,"sums":true,"count":2,"chunks":[],"entries":{},"contributions":{"a":{"a1":{"value":3,"at":5},"a2":{"value":4,"at":9}},"b":{"b1":{"value":8,"at":2}}}}"#
        let old = try JSONDecoder().decode(Standings.self, from: Data(nested.utf8))
        #expect(old.ranking == [.init(user: "b", value: 8, reachedAt: 2), .init(user: "a", value: 7, reachedAt: 9)])
        let broken = #"{"ascending":false,"sums":true,"users":["a"],"counts":[2],"workouts":["a1"],"values":[1],"at":[1]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Standings.self, from: Data(broken.utf8)) }
    }

    @Test func bestTimesRankAscendingAndKeepTheBestCopy() {
        var s = Standings(ascending: true, sums: false)
        s.set(user: "a", workout: "a1", value: 1500, at: 1)
        s.set(user: "a", workout: "a2", value: 1400, at: 2)
        s.set(user: "b", workout: "b1", value: 1450, at: 3)
        #expect(s.ranking.map { "\($0.user):\($0.value)" } == ["a:1400.0", "b:1450.0"])
        s.set(user: "a", workout: "a2", value: nil, at: 2)
        #expect(s.ranking.map { "\($0.user):\($0.value)" } == ["b:1450.0", "a:1500.0"])
    }

    static let boards = try! TrainingConfig.parse(
        """
        time_zone: Europe/Moscow
        leaderboards:
          - {id: week-km, metric: distance, period: week}
          - {id: region-runs, metric: workouts, period: month, scope: each_region, sport: run}
          - {id: moscow, metric: duration, period: all_time, scope: {region: RU-MOW}}
          - {id: club, metric: distance, period: year, scope: {users: [u1, u3]}}
          - {id: best-5k, metric: best_time, band: [5000, 5500], period: year}
        """, file: "boards.yaml")

    func workout(_ id: String, _ user: String, _ sport: String = "run", km: Double, minutes: Int64, at start: Int64, offset: Int64) -> Workout {
        Workout(id: id, user: user, source: "device", sport: sport, start: start, durationMillis: minutes * 60_000, distance: km * 1000, offset: offset)
    }

    @Test func workoutsLandOnEveryBoardOfTheirScopeAndPeriod() throws {
        var state = TrainingState()
        let config = Self.boards
        state.apply(profile: try JSONValue.parse(#"{"user":"u1","region":"RU-MOW"}"#).objectValue!)
        state.apply(profile: try JSONValue.parse(#"{"user":"u2","region":"RU-SPE"}"#).objectValue!)
        let t = Int64(1_795_770_000_000)
        for w in [
            workout("w1", "u1", km: 5.2, minutes: 25, at: t, offset: 1), workout("w2", "u2", km: 10, minutes: 50, at: t, offset: 2),
            workout("w3", "u3", "ride", km: 30, minutes: 60, at: t, offset: 3), workout("w4", "u2", km: 5.0, minutes: 24, at: t + 86_400_000, offset: 4),
        ] {
            _ = state.apply(w, config: config)
        }
        func ranking(_ board: String, _ period: String, _ scope: String) -> [String] {
            state.standings[.init(board: board, period: period, scope: scope)]?.ranking.map { "\($0.user)=\($0.value)" } ?? []
        }
        #expect(ranking("week-km", "2026-W48", "all") == ["u3=30000.0", "u2=15000.0", "u1=5200.0"])
        #expect(ranking("region-runs", "2026-11", "RU-SPE") == ["u2=2.0"])
        #expect(ranking("region-runs", "2026-11", "RU-MOW") == ["u1=1.0"])
        #expect(ranking("region-runs", "2026-11", "unknown") == [])  // u3 rode: not a run
        #expect(ranking("moscow", "all", "RU-MOW") == ["u1=1500.0"])
        #expect(ranking("club", "2026", "members") == ["u3=30000.0", "u1=5200.0"])
        #expect(ranking("best-5k", "2026", "all") == ["u2=1440.0", "u1=1500.0"])
    }

    /// For random workouts, with copies (exact and shifted, so that copies chain) from several
    /// sources: every standings of every board, period and scope equals a brute-force ranking
    /// of the counted workouts; no two counted workouts are copies; the counted set does not
    /// depend on arrival order; and restoring an encoded state mid-stream changes nothing.
    @Test func randomStreamsMatchABruteForceRanking() throws {
        var rng = SystemRandomNumberGenerator()
        let config = Self.boards
        let sources = ["device", "garmin", "strava", "polar"]
        var regions: [String: String] = [:]
        var all: [Workout] = []
        for n in 0..<800 {
            let user = "u\(Int.random(in: 0..<25, using: &rng))"
            if regions[user] == nil, Int.random(in: 0..<4, using: &rng) > 0 { regions[user] = "R\(Int.random(in: 0..<3, using: &rng))" }
            let copyOf = n > 0 && Int.random(in: 0..<3, using: &rng) == 0 ? all.randomElement(using: &rng) : nil
            let shift = copyOf.map { Int64.random(in: 0...($0.durationMillis / 2), using: &rng) } ?? 0
            let start = (copyOf?.start ?? 1_795_000_000_000 + Int64.random(in: 0..<(60 * 86_400_000), using: &rng)) + shift
            all.append(
                Workout(
                    id: "w\(n)", user: copyOf?.user ?? user, source: sources.randomElement(using: &rng)!,
                    sport: copyOf?.sport ?? (Bool.random(using: &rng) ? "run" : "ride"), start: start,
                    durationMillis: copyOf?.durationMillis ?? Int64.random(in: 10...120, using: &rng) * 60_000,
                    distance: Double(Int.random(in: 1000...12000, using: &rng)), offset: Int64(n)))
        }
        func run(_ workouts: [Workout], restartAt: Int? = nil) throws -> TrainingState {
            var state = TrainingState()
            for (user, region) in regions.sorted(by: { $0.key < $1.key }) {
                state.apply(profile: try JSONValue.parse(#"{"user":"\#(user)","region":"\#(region)"}"#).objectValue!)
            }
            for (i, w) in workouts.enumerated() {
                if i == restartAt { state = try JSONDecoder().decode(TrainingState.self, from: JSONEncoder().encode(state)) }
                _ = state.apply(w, config: config)
            }
            return state
        }
        let state = try run(all)
        #expect(try run(all, restartAt: 400) == state)
        #expect(try run(all.reversed()).books.mapValues(\.counted) == state.books.mapValues(\.counted))

        let counted = all.filter { state.books[$0.user]!.counted.contains($0.id) }
        for user in Set(all.map(\.user)) {
            let mine = counted.filter { $0.user == user }
            for (i, a) in mine.enumerated() { for b in mine[(i + 1)...] { #expect(!WorkoutBook.sameActivity(a, b)) } }
        }
        var expected: [TrainingState.BoardKey: [String: (value: Double, at: Int64, best: Bool)]] = [:]
        for board in config.boards {
            for w in counted {
                guard let value = board.contribution(of: w), let scope = board.scopeKeys(user: w.user, region: regions[w.user], groups: []).first else { continue }
                let key = TrainingState.BoardKey(board: board.id, period: board.period.key(of: w.start, in: config.timeZone), scope: scope)
                let best = board.metric == .bestTime
                if let old = expected[key]?[w.user] {
                    expected[key]![w.user] = best
                        ? ((value, w.end) < (old.value, old.at) ? (value, w.end, true) : old)
                        : (old.value + value, max(old.at, w.end), false)
                } else {
                    expected[key, default: [:]][w.user] = (value, w.end, best)
                }
            }
        }
        #expect(Set(expected.keys) == Set(state.standings.filter { $0.value.count > 0 }.keys))
        for (key, users) in expected {
            let ascending = config.boards.first { $0.id == key.board }!.ascending
            let ranked = users.sorted { a, b in
                if a.value.value != b.value.value { return ascending ? a.value.value < b.value.value : a.value.value > b.value.value }
                return a.value.at != b.value.at ? a.value.at < b.value.at : a.key < b.key
            }.map(\.key)
            #expect(state.standings[key]?.ranking.map(\.user) == ranked, "\(key)")
        }
    }
}

@Suite struct StandingsChunkTests {
    /// Thousands of random updates across many chunks: the ranking stays sorted and every
    /// user's rank is their position in it.
    @Test func largeRankingsStayOrdered() {
        var s = Standings(ascending: false, sums: true)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<20_000 {
            let user = "u\(Int.random(in: 0..<3_000, using: &rng))"
            let value: Double? = Int.random(in: 0..<10, using: &rng) == 0 ? nil : Double(Int.random(in: 1...500, using: &rng))
            s.set(user: user, workout: "w\(i % 7)", value: value, at: Int64(i))
        }
        let ranking = s.ranking
        #expect(ranking.count == s.count)
        #expect(zip(ranking, ranking.dropFirst()).allSatisfy { s.precedes($0, $1) })
        for (index, entry) in ranking.enumerated() where index % 97 == 0 {
            #expect(s.rank(of: entry.user)?.rank == index + 1)
        }
        #expect(s.top(10) == Array(ranking.prefix(10)))
    }
}
