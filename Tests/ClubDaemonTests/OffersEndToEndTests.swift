import ClubTestKit
import Foundation
import JSON
import Storage
import Testing

/// The Offers subsystem through a real clubd: rule files, the offer stage on the activity
/// log, `offer.*` topics, the `offers` and `offers.preview` ops, caps, budgets, restarts.
@Suite(.serialized) struct OffersEndToEndTests {
    static let now = Int64(Date().timeIntervalSince1970 * 1000)
    static let hour: Int64 = 3_600_000

    static let rules = """
        offers:
          - id: long-run
            title: Long run
            on: workout
            when: "event.distance_m >= 10000 and event.sport == 'run'"
            offer: {text: "10% off gels", discount_percent: 10, categories: [nutrition], valid_for: 7d}
            audience: user
            caps: {once_per: 30d}
            priority: 10
          - id: any-workout
            title: Any workout
            on: workout
            offer: {text: "5% off", discount_percent: 5, valid_for: 7d}
            audience: user
            caps: {once_per: 30d, budget: 2}
            priority: 1
          - id: spb-groups
            title: Groups in Saint Petersburg
            on: store.visited
            offer: {text: "300 off in SPb stores", discount_amount: 300, valid_for: 7d}
            audience: {regions: [RU-SPE]}
          - id: everyone
            title: Competition week
            on: contest.finished
            offer: {text: "15% off for everyone", discount_percent: 15, valid_for: 7d}
            audience: everyone
          - id: short-lived
            title: Gone soon
            on: review.posted
            offer: {text: "one minute only", discount_percent: 1, valid_for: 1m}
            audience: user
        """

    static func workout(_ id: String, _ user: String, km: Double, at start: Int64 = now - 2 * hour) -> JSONValue {
        try! JSONValue.parse(
            #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"device","sport":"run","start":\#(start),"ts":\#(start + 1_800_000),"duration_s":1800,"distance_m":\#(km * 1000)}"#)
    }

    static func event(_ type: String, _ id: String, _ user: String, ts: Int64 = now - 60_000, _ extra: String = "") -> JSONValue {
        try! JSONValue.parse(#"{"type":"\#(type)","id":"\#(id)","user":"\#(user)","ts":\#(ts)\#(extra)}"#)
    }

    static func submit(_ daemon: DaemonProcess, _ events: [JSONValue]) throws -> Int64 {
        let reply = try daemon.request(["op": "submit", "events": .array(events)])
        #expect(reply["ok"] == true, "\(reply.jsonText)")
        return try daemon.request(["op": "health"])["bonus_offset"].flatMap(\.int64Value) ?? 0
    }

    static func offers(_ daemon: DaemonProcess, _ user: String) throws -> [JSONValue] {
        try daemon.request(["op": "offers", "user": .string(user)])["offers"]?.arrayValue ?? []
    }

    static func rulesOf(_ offers: [JSONValue]) -> [String] { offers.compactMap { $0["rule"]?.stringValue }.sorted() }

    @Test func targetedRegionalAndGeneralOffersArePublishedAndListed() throws {
        let daemon = try DaemonProcess()
        try daemon.start(extraArguments: try daemon.writeOfferRules(["club.yaml": Self.rules]))
        let topic = try daemon.subscriber("offer.")
        let reply = try daemon.request([
            "op": "submit",
            "events": [
                Self.event("profile", "p1", "ann", #","region":"RU-SPE""#), Self.event("profile", "p2", "bob", #","region":"RU-MOW""#),
                Self.workout("w1", "ann", km: 12),  // long-run beats any-workout (priority)
                Self.workout("w2", "bob", km: 3),  // only any-workout
                Self.event("store.visited", "g1", "bob"),  // a regional offer for RU-SPE, whoever joined
                Self.event("contest.finished", "c1", "bob"),  // everyone
                Self.event("review.posted", "d1", "ann", ts: Self.now - 5 * 60_000),  // issued, but expired already
            ],
        ])
        #expect(reply["accepted"] == 7)
        try daemon.waitForOffers(offset: 7)
        let published = try topic.receive(count: 5)
        #expect(published.map(\.topic).sorted() == [
            "offer.all", "offer.region.RU-SPE", "offer.user.ann", "offer.user.ann", "offer.user.bob",
        ])
        let longRun = published.first { $0.payload["rule"] == "long-run" }?.payload
        #expect(longRun?["discount_percent"] == 10 && longRun?["categories"] == ["nutrition"] && longRun?["trigger"] == "w1")
        #expect(longRun?["valid_until"]?.int64Value == (Self.now - 2 * Self.hour + 1_800_000) + 7 * 24 * Self.hour)
        #expect(published.allSatisfy { $0.payload["seq"] != nil && $0.payload["code"]?.stringValue?.isEmpty == false })

        // Ann (RU-SPE): her targeted offer, her region's and everyone's; the expired one is not listed.
        #expect(Self.rulesOf(try Self.offers(daemon, "ann")) == ["everyone", "long-run", "spb-groups"])
        // Bob (RU-MOW): his own and everyone's, not Saint Petersburg's.
        #expect(Self.rulesOf(try Self.offers(daemon, "bob")) == ["any-workout", "everyone"])
        // A user the club has never seen still gets the general offers.
        #expect(Self.rulesOf(try Self.offers(daemon, "zed")) == ["everyone"])
        let missing = try daemon.request(["op": "offers"])
        #expect(missing["error"]?["code"] == "missing_field")
    }

    @Test func capsAndBudgetsHoldExactlyThroughBurstsAndKills() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeOfferRules(["club.yaml": Self.rules])
        try daemon.start(extraArguments: flags)
        // Three hundred short workouts of one user at once, a minute apart: one offer.
        let burst = (0..<300).map { Self.workout("b\($0)", "cat", km: 1, at: Self.now - 20 * Self.hour + Int64($0) * 120_000) }
        _ = try daemon.request(["op": "submit", "events": .array(burst)])
        try daemon.waitForOffers(offset: 300)
        #expect(Self.rulesOf(try Self.offers(daemon, "cat")) == ["any-workout"])
        daemon.kill()
        try daemon.start(extraArguments: flags)
        // After the kill: the budget of 2 allows one more user, then no one.
        _ = try daemon.request(["op": "submit", "events": [Self.workout("x1", "dan", km: 1), Self.workout("x2", "eve", km: 1)]])
        _ = try daemon.request(["op": "submit", "events": [Self.workout("b0", "cat", km: 1)]])  // a retry: a duplicate
        try daemon.waitForOffers(offset: 302)
        #expect(Self.rulesOf(try Self.offers(daemon, "dan")) == ["any-workout"])
        #expect(Self.rulesOf(try Self.offers(daemon, "eve")) == [])
        #expect(Self.rulesOf(try Self.offers(daemon, "cat")) == ["any-workout"])
    }

    /// The facts the rules read (region, counted workouts — a copy from another source counting
    /// once) are the training stage's, handed on with each event: right after a SIGTERM and after
    /// a kill -9 that leaves the training stage to replay the log, and each offer issued once.
    @Test func factsLearnedByTheTrainingStageJudgeEachEventAcrossRestarts() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeOfferRules([
            "facts.yaml": """
                offers:
                  - id: third-run
                    title: Third run
                    on: workout
                    when: "user.workouts_total == 3 and user.region == 'RU-SPE'"
                    offer: {text: "a free pair of socks", discount_percent: 100, valid_for: 30d}
                    audience: user
                  - id: ten-km
                    title: Ten kilometres
                    on: review.posted
                    when: "user.distance_total_m == 12000"
                    offer: {text: "10% off", discount_percent: 10, valid_for: 30d}
                    audience: user
                """
        ])
        try daemon.start(extraArguments: flags)
        func strava(_ id: String, _ user: String, km: Double, at start: Int64) -> JSONValue {
            try! JSONValue.parse(
                #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"strava","sport":"run","start":\#(start + 60_000),"duration_s":1740,"distance_m":\#(km * 1000)}"#)
        }
        let t = Self.now - 30 * Self.hour
        for user in ["ann", "bob"] {
            _ = try Self.submit(daemon, [
                Self.event("connection", "c-\(user)", user, #","system":"strava","state":"active""#),
                Self.event("profile", "p-\(user)", user, #","region":"\#(user == "ann" ? "RU-SPE" : "RU-MOW")""#),
                Self.workout("\(user)-1", user, km: 4, at: t), strava("\(user)-1s", user, km: 4, at: t),  // one run, two copies
                Self.workout("\(user)-2", user, km: 4, at: t + 2 * Self.hour),
            ])
        }
        try daemon.waitForOffers(offset: 10)
        #expect(Self.rulesOf(try Self.offers(daemon, "ann")) == [])  // two runs counted, not three
        #expect(daemon.terminate() == 0)
        try daemon.start(extraArguments: flags)
        _ = try Self.submit(daemon, [Self.workout("ann-3", "ann", km: 4, at: t + 4 * Self.hour), Self.workout("bob-3", "bob", km: 4, at: t + 4 * Self.hour)])
        try daemon.waitForOffers(offset: 12)
        #expect(Self.rulesOf(try Self.offers(daemon, "ann")) == ["third-run"])
        #expect(Self.rulesOf(try Self.offers(daemon, "bob")) == [])  // three runs, but in RU-MOW
        daemon.kill()  // the training stage has not committed (once a minute): it replays the whole log
        try daemon.start(extraArguments: flags)
        _ = try Self.submit(daemon, [
            Self.event("review.posted", "r-ann", "ann"), Self.event("review.posted", "r-bob", "bob"),
            Self.workout("ann-4", "ann", km: 4, at: t + 6 * Self.hour),
        ])
        try daemon.waitForOffers(offset: 15)
        // Exactly 12 km counted for each: three runs, the Strava copy not counted; no second third-run for Ann.
        #expect(Self.rulesOf(try Self.offers(daemon, "ann")) == ["ten-km", "third-run"])
        #expect(Self.rulesOf(try Self.offers(daemon, "bob")) == ["ten-km"])
        let codes = try Self.offers(daemon, "ann").compactMap { $0["code"]?.stringValue }.sorted()

        // The offers file removed: the training stage (committed at the SIGTERM) rebuilds from the
        // log's start, so the offer stage judges every entry on the same facts and codes again.
        #expect(daemon.terminate() == 0)
        let file = ClubStore.offersPath(besides: daemon.databasePath)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
        try daemon.start(extraArguments: flags)
        try daemon.waitForStages(["training", "offers"], timeout: 30)
        #expect(try Self.offers(daemon, "ann").compactMap { $0["code"]?.stringValue }.sorted() == codes)
        #expect(Self.rulesOf(try Self.offers(daemon, "bob")) == ["ten-km"])
        #expect(codes.count == 2)
    }

    @Test func campaignsDaemonOutcomesAndPreview() throws {
        let campaign = """
            offers:
              - id: weekly
                title: Weekly promo
                schedule: {at: "\(ISO8601DateFormatter().string(from: Date(timeIntervalSinceNow: -3600)))", every: 7d}
                offer: {text: "weekly", discount_percent: 5, valid_for: 2d}
                audience: {regions: [RU-SPE]}
              - id: compared
                title: Compared
                on: training.compared
                when: "event.rank == 1 and event.band == '5k'"
                offer: {text: "fastest", discount_percent: 20, valid_for: 7d}
                audience: user
            """
        let daemon = try DaemonProcess()
        let flags = try daemon.writeOfferRules(["campaign.yaml": campaign])
        try daemon.start(extraArguments: flags)
        let topic = try daemon.subscriber("offer.")
        // The training stage compares a 5 km run with its cohort and raises training.compared.
        _ = try daemon.request(["op": "submit", "events": [Self.workout("r1", "fay", km: 5.2)]])
        // The weekly campaign's regional offer may be published before it or not at all seen
        // (issued before this subscriber joined): the user's offer is among the first two.
        var received = try topic.receive(count: 1)
        if received.first?.topic == "offer.region.RU-SPE" { received = try topic.receive(count: 1) }
        #expect(received.first?.topic == "offer.user.fay")
        #expect(received.first?.payload["trigger"]?.stringValue?.hasPrefix("compared:r1") == true)
        // The campaign started an hour ago: issued at once, listed for Saint Petersburg, and
        // not again after a restart.
        #expect(try Self.offers(daemon, "nobody").isEmpty)  // no region: regional offers are not theirs
        _ = try daemon.request(["op": "submit", "events": [Self.event("profile", "p-gus", "gus", #","region":"RU-SPE""#)]])
        try daemon.waitForOffers(offset: 3)
        #expect(Self.rulesOf(try Self.offers(daemon, "gus")) == ["weekly"])
        daemon.terminate()
        try daemon.start(extraArguments: flags)
        #expect(Self.rulesOf(try Self.offers(daemon, "gus")) == ["weekly"])

        // Preview another rule over the recorded history: counts, nothing issued.
        let preview = try daemon.request([
            "op": "offers.preview", "since": "1d",
            "rules": .string(Self.rules),
        ])
        #expect(preview["ok"] == true, "\(preview.jsonText)")
        #expect(preview["offers"] == 1 && preview["users"] == 1)  // fay's 5.2 km run: any-workout
        #expect(preview["rules"]?.arrayValue?.first { $0["rule"] == "any-workout" }?["budget"] == 2)
        #expect(Self.rulesOf(try Self.offers(daemon, "fay")) == ["compared"])
        let broken = try daemon.request(["op": "offers.preview", "rules": "offers:\n  - id: x\n"])
        #expect(broken["error"]?["code"] == "invalid_definitions")
    }

    /// Window outcomes (a finished device session) and leaderboard outcomes (a final board)
    /// trigger offers like any other activity event.
    @Test func windowAndLeaderboardOutcomesTriggerOffers() throws {
        let daemon = try DaemonProcess(pipelines: [
            "sessions.yaml": DaemonProcess.sessionPipeline,
            "boards.yaml": """
                name: leaderboards
                publish_interval: 100ms
                leaderboards:
                  - {id: daily-km, metric: distance, period: day, size: 3}
                """,
        ])
        let flags = try daemon.writeOfferRules([
            "outcomes.yaml": """
                offers:
                  - id: session-km
                    title: A kilometre tracked
                    on: workout.finished
                    when: "event.distance_m >= 1000 and event.moving_time_s > 0"
                    offer: {text: "tracked", discount_percent: 5, valid_for: 30d}
                    audience: user
                  - id: daily-winner
                    title: Yesterday's winner
                    on: leaderboard.final
                    when: "event.board == 'daily-km' and event.rank == 1"
                    offer: {text: "winner", discount_percent: 25, valid_for: 30d}
                    audience: user
                """
        ])
        try daemon.start(extraArguments: flags)
        let topic = try daemon.subscriber("offer.user.")
        let t0 = Self.now - Self.hour
        func sample(_ user: String, _ ts: Int64, _ distance: Double) -> JSONValue {
            try! JSONValue.parse(#"{"type":"telemetry","user":"\#(user)","device":"w","session":"s","ts":\#(ts),"distance_m":\#(distance)}"#)
        }
        // Ida runs 1.2 km, Jo 300 m; both sessions close after 2 s of quiet (daemon clock).
        var events = (0...24).map { sample("ida", t0 + Int64($0) * 10_000, Double($0) * 50) }
        events += (0...6).map { sample("jo", t0 + Int64($0) * 10_000, Double($0) * 50) }
        // Yesterday's daily board ended at midnight: its final standings are raised at once.
        let yesterday = Self.now - 86_400_000 - Self.now % 86_400_000 + 8 * Self.hour
        events += [Self.workout("y1", "jo", km: 8, at: yesterday), Self.workout("y2", "ida", km: 5, at: yesterday)]
        _ = try daemon.request(["op": "submit", "events": .array(events)])
        let offers = try topic.receive(count: 2)
        #expect(offers.map(\.topic).sorted() == ["offer.user.ida", "offer.user.jo"], "\(offers.map(\.payload.jsonText))")
        #expect(offers.first { $0.topic == "offer.user.ida" }?.payload["trigger"] == .string("sessions:ida:\(t0)"))
        let yesterdayKey = ISO8601DateFormatter.string(
            from: Date(timeIntervalSince1970: Double(yesterday) / 1000), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        #expect(offers.first { $0.topic == "offer.user.jo" }?.payload["trigger"] == .string("final:daily-km:\(yesterdayKey):all:1"))
        #expect(Self.rulesOf(try Self.offers(daemon, "ida")) == ["session-km"])  // second on the board: no offer
        #expect(Self.rulesOf(try Self.offers(daemon, "jo")) == ["daily-winner"])  // 300 m: not a tracked kilometre
    }

    @Test func reloadValidatesEveryFileAndKeepsTheRunningRules() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeOfferRules(["club.yaml": Self.rules])
        try daemon.start(extraArguments: flags)
        try daemon.writeOfferRules(["more.yaml": "offers:\n  - id: typo\n    title: T\n    on: workout\n    when: event.distanse_m > 1\n"])
        let refused = try daemon.request(["op": "reload"])
        #expect(refused["error"]?["code"] == "invalid_definitions")
        let message = refused["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("more.yaml:5:17: in the condition: 'workout' events have no field 'distanse_m'"), "\(message)")
        _ = try daemon.request(["op": "submit", "events": [Self.workout("w1", "hal", km: 11)]])
        try daemon.waitForOffers(offset: 1)
        #expect(Self.rulesOf(try Self.offers(daemon, "hal")) == ["long-run"])  // the old rules run on
        try daemon.writeOfferRules([
            "more.yaml": """
                offers:
                  - {id: joined, title: J, on: store.visited, audience: user, offer: {text: hi, discount_percent: 3, valid_for: 1d}}
                """
        ])
        let reloaded = try daemon.request(["op": "reload"])
        #expect(reloaded["reloaded"]?.arrayValue?.contains("offer rules: 6") == true, "\(reloaded.jsonText)")
        _ = try daemon.request(["op": "submit", "events": [Self.event("store.visited", "j1", "hal")]])
        try daemon.waitForOffers(offset: 2)
        #expect(Self.rulesOf(try Self.offers(daemon, "hal")) == ["joined", "long-run"])
    }
}
