import ClubKernel
import ClubTestKit
import Foundation
import JSON
import Storage
import Testing

/// The Community subsystem through a real clubd: groups of every kind, sessions with RSVPs and
/// a waitlist, attendance detected from submitted telemetry (inside and outside the radius,
/// too short, after the end, a non-member), a check-in, discussions with limits, paging and
/// hiding — refusals in the submit reply with their codes, nothing refused reaching the
/// ledger — and exactly once across `kill -9`, checked against the activity log and ledger.
@Suite(.serialized) struct CommunityEndToEndTests {
    static let now = Int64(Date().timeIntervalSince1970 * 1000)

    static func event(_ json: String) -> JSONValue { try! JSONValue.parse(json) }

    static func submit(_ daemon: DaemonProcess, _ events: [JSONValue]) throws -> JSONValue {
        try daemon.request(["op": "submit", "events": .array(events)])
    }

    static func codes(_ reply: JSONValue) -> [Int: String] {
        var codes: [Int: String] = [:]
        for r in reply["rejected"]?.arrayValue ?? [] {
            if let i = r["index"]?.int64Value, let c = r["code"]?.stringValue { codes[Int(i)] = c }
        }
        return codes
    }

    /// Polls `request` until `done` holds.
    static func poll(_ daemon: DaemonProcess, _ request: JSONValue, timeout: Double = 15, until done: (JSONValue) -> Bool) throws -> JSONValue {
        var reply = JSONValue.null
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            reply = try daemon.request(request)
            if done(reply) { return reply }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return reply
    }

    @Test func groupsAndDiscussionsDecideInLogOrder() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let long = String(repeating: "é", count: 2000)
        let events: [JSONValue] = [
            Self.event(#"{"type":"profile","id":"pr-1","user":"ann","region":"RU-MOW","interests":["running","yoga"]}"#),
            Self.event(#"{"type":"group.created","id":"e0","user":"olga","group":"g-run","kind":"joint","title":"Morning runs","region":"RU-MOW"}"#),
            Self.event(#"{"type":"group.created","id":"e1","user":"cora","group":"g-coach","kind":"coached","title":"Track club","coach":"cora"}"#),
            Self.event(#"{"type":"group.created","id":"e2","user":"yuri","group":"g-yoga","kind":"interest","title":"Yoga","interests":["yoga"]}"#),
            Self.event(#"{"type":"group.created","id":"e3","user":"ivan","group":"g-chess","kind":"interest","title":"Chess","interests":["chess"]}"#),
            Self.event(#"{"type":"group.joined","id":"e4","user":"ann","group":"g-run"}"#),
            Self.event(#"{"type":"group.joined","id":"e5","user":"bob","group":"g-nope"}"#),  // unknown_group
            Self.event(#"{"type":"discussion.posted","id":"e6","user":"ann","group":"g-run","post":"p1","text":"Who runs tomorrow?"}"#),
            Self.event(#"{"type":"discussion.posted","id":"e7","user":"bob","group":"g-run","post":"p2","text":"me"}"#),  // forbidden
            Self.event(#"{"type":"discussion.posted","id":"e8","user":"olga","group":"g-run","post":"p3","text":"I do","reply_to":"p1"}"#),
            Self.event(#"{"type":"discussion.posted","id":"e9","user":"olga","group":"g-run","post":"p4","text":"\#(long)"}"#),
            Self.event(#"{"type":"discussion.posted","id":"e10","user":"olga","group":"g-run","post":"p5","text":"\#(long)x"}"#),  // 2001
            Self.event(#"{"type":"group.closed","id":"e11","user":"ann","group":"g-run"}"#),  // forbidden
            Self.event(#"{"type":"discussion.hidden","id":"e12","user":"olga","group":"g-run","post":"p3"}"#),
            Self.event(#"{"type":"group.closed","id":"e13","user":"ivan","group":"g-chess"}"#),
            Self.event(#"{"type":"group.joined","id":"e14","user":"ann","group":"g-chess"}"#),  // closed: unknown_group
            Self.event(#"{"type":"discussion.posted","id":"e15","user":"ann","group":"g-run","post":"p6","text":"x","reply_to":"p404"}"#),
        ]
        let reply = try Self.submit(daemon, events)
        #expect(
            Self.codes(reply) == [6: "unknown_group", 8: "forbidden", 11: "out_of_range", 12: "forbidden", 15: "unknown_group", 16: "unknown_post"],
            "\(reply.jsonText)")
        #expect(reply["accepted"] == 11)
        // A retried submit: every id is a duplicate, none is decided again.
        let retry = try Self.submit(daemon, Array(events[0..<5]))
        #expect(retry["duplicates"] == 5 && retry["accepted"] == 0, "\(retry.jsonText)")

        let mine = try Self.poll(daemon, ["op": "groups", "user": "ann"]) { $0["groups"]?.arrayValue?.count == 1 }
        #expect(mine["groups"]?[0]?["group"] == "g-run" && mine["groups"]?[0]?["members"] == 2, "\(mine.jsonText)")
        let group = try daemon.request(["op": "group", "group": "g-run"])
        #expect(group["member_ids"] == ["ann", "olga"] && group["region"] == "RU-MOW" && group["owner"] == "olga", "\(group.jsonText)")
        #expect(try daemon.request(["op": "groups", "kind": "coached"])["groups"]?[0]?["coach"] == "cora")
        #expect(try daemon.request(["op": "group", "group": "g-nope"])["error"]?["code"] == "unknown_group")
        let recommended = try daemon.request(["op": "recommendations", "user": "ann"])
        #expect(recommended["groups"]?.arrayValue?.map { $0["group"] } == ["g-yoga"], "\(recommended.jsonText)")
        #expect(recommended["groups"]?[0]?["reason"] == "interests")

        let page = try daemon.request(["op": "discussion", "group": "g-run", "limit": 2])
        #expect(page["posts"]?.arrayValue?.map { $0["post"] } == ["p4", "p3"], "\(page.jsonText)")
        #expect(page["posts"]?[0]?["text"]?.stringValue?.count == 2000)
        #expect(page["posts"]?[1]?["hidden"] == true && page["posts"]?[1]?["text"] == .null && page["posts"]?[1]?["reply_to"] == "p1")
        let older = try daemon.request(["op": "discussion", "group": "g-run", "before": "p3"])
        #expect(older["posts"]?.arrayValue?.map { $0["post"] } == ["p1"] && older["posts"]?[0]?["user"] == "ann")

        // The embedded programme gives 2 points per post: ann's one accepted post counts, bob's
        // refused one earns nothing.
        let ann = try Self.poll(daemon, ["op": "balance", "user": "ann"]) { $0["points"] == 2 }
        #expect(ann["points"] == 2)
        #expect(try daemon.request(["op": "balance", "user": "bob"])["points"] == 0)
        #expect(try daemon.request(["op": "balance", "user": "olga"])["points"] == 4)
    }

    @Test func postsBeyondTheRateLimitAreRefused() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        var events = [Self.event(#"{"type":"group.created","id":"c","user":"ann","group":"g","kind":"joint","title":"G"}"#)]
        for i in 0..<7 {
            events.append(Self.event(#"{"type":"discussion.posted","id":"d\#(i)","user":"ann","group":"g","post":"p\#(i)","text":"t","ts":\#(Self.now - 30_000 + Int64(i) * 1000)}"#))
        }
        // Subscribed first: the submit's two refusals are published too, before the ingested one.
        let rejected = try daemon.subscriber("rejected")
        let reply = try Self.submit(daemon, events)
        #expect(Self.codes(reply) == [6: "rate_limited", 7: "rate_limited"], "\(reply.jsonText)")
        // Refusals of ingested events go to `rejected`.
        let push = try daemon.pusher()
        try push.send(Self.event(#"{"type":"discussion.posted","id":"d9","user":"ann","group":"g","post":"p9","text":"t","ts":\#(Self.now - 25_000)}"#).serialized())
        let got = try rejected.receive(count: 3)
        #expect(got.map { $0.payload["source"] } == ["submit", "submit", "ingest"], "\(got.map(\.payload.jsonText))")
        #expect(got.allSatisfy { $0.payload["code"] == "rate_limited" })
    }

    // MARK: Sessions and attendance

    static let lat = 55.7512, lon = 37.6184

    /// Samples every 10 s from `from` for `minutes`, starting `offset` metres north of the place
    /// and heading north at `speed` m/s.
    static func run(_ user: String, from: Int64, minutes: Int, offset: Double = 0, speed: Double = 3) -> [JSONValue] {
        (0..<(minutes * 6)).map { i in
            let north = offset + speed * Double(i * 10)
            return event(
                #"{"type":"telemetry","user":"\#(user)","device":"w-\#(user)","session":"r-\#(user)","ts":\#(from + Int64(i) * 10_000),"sport":"run","lat":\#(lat + north / 111_195),"lon":\#(lon),"hr":140}"#)
        }
    }

    static func attended(_ daemon: DaemonProcess) async throws -> [ActivityEvent] {
        let store = try await daemon.openStore()
        return try await store.activity(after: 0, limit: Int.max).filter { $0.type == "session.attended" }
    }

    @Test func attendanceIsDetectedFromTelemetryOnceAcrossKill9() async throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let start = Self.now - 2 * 3_600_000
        let setup: [JSONValue] = [
            Self.event(#"{"type":"group.created","id":"s0","user":"coach","group":"track","kind":"coached","title":"Track","coach":"coach"}"#),
            Self.event(#"{"type":"group.joined","id":"s1","user":"a","group":"track"}"#),
            Self.event(#"{"type":"group.joined","id":"s2","user":"b","group":"track"}"#),
            Self.event(#"{"type":"group.joined","id":"s3","user":"c","group":"track"}"#),
            Self.event(#"{"type":"group.joined","id":"s4","user":"d","group":"track"}"#),
            Self.event(#"{"type":"group.joined","id":"s5","user":"e","group":"track"}"#),
            Self.event(
                #"{"type":"session.scheduled","id":"s6","user":"a","session":"tue","group":"track","start":\#(start),"duration_s":3600,"sport":"run","place":{"lat":\#(Self.lat),"lon":\#(Self.lon),"radius_m":150}}"#),
            Self.event(
                #"{"type":"session.scheduled","id":"s7","user":"coach","session":"tue","group":"track","start":\#(start),"duration_s":3600,"sport":"run","place":{"lat":\#(Self.lat),"lon":\#(Self.lon),"radius_m":150},"capacity":2}"#),
            Self.event(#"{"type":"session.rsvp","id":"s8","user":"a","session":"tue","going":true}"#),
            Self.event(#"{"type":"session.rsvp","id":"s9","user":"b","session":"tue","going":true}"#),
            Self.event(#"{"type":"session.rsvp","id":"s10","user":"c","session":"tue","going":true}"#),  // waitlisted
            Self.event(#"{"type":"session.rsvp","id":"s11","user":"stranger","session":"tue","going":true}"#),  // forbidden
            Self.event(#"{"type":"session.rsvp","id":"s12","user":"b","session":"tue","going":false}"#),  // c moves up
            Self.event(#"{"type":"session.rsvp","id":"s13","user":"a","session":"wed","going":true}"#),  // unknown_session
            Self.event(#"{"type":"session.attended","id":"s14","user":"a","session":"tue","minutes":60}"#),  // raised only
        ]
        let reply = try Self.submit(daemon, setup)
        #expect(Self.codes(reply) == [6: "forbidden", 11: "forbidden", 13: "unknown_session", 14: "unsupported_type"], "\(reply.jsonText)")
        let session = try Self.poll(daemon, ["op": "session", "session": "tue"]) { $0["going"]?.arrayValue?.count == 2 }
        #expect(session["going"] == ["a", "c"] && session["waitlist"] == [], "\(session.jsonText)")

        // a and the coach run the hour from the place; b runs 5 km away; c runs 20 minutes; d
        // runs after the end; a stranger runs with them. Acknowledged, so journaled.
        var telemetry = Self.run("a", from: start - 5 * 60_000, minutes: 60) + Self.run("coach", from: start, minutes: 60)
        telemetry += Self.run("b", from: start, minutes: 60, offset: 5_000) + Self.run("c", from: start, minutes: 20)
        telemetry += Self.run("d", from: start + 65 * 60_000, minutes: 30) + Self.run("stranger", from: start, minutes: 60)
        for chunk in stride(from: 0, to: telemetry.count, by: 500) {
            let r = try Self.submit(daemon, Array(telemetry[chunk..<min(chunk + 500, telemetry.count)]))
            #expect(r["rejected"]?.arrayValue?.isEmpty == true, "\(r.jsonText)")
        }
        // Killed at once: the journal brings the telemetry back and attendance is decided then.
        daemon.kill()
        try daemon.start()
        let decided = try Self.poll(daemon, ["op": "session", "session": "tue"]) { $0["attended"]?.arrayValue?.count == 2 }
        let attendees = decided["attended"]?.arrayValue ?? []
        #expect(attendees.map { $0["user"] } == ["a", "coach"], "\(decided.jsonText)")
        #expect(attendees.first?["with_coach"] == true && attendees.first?["rsvp"] == true)
        #expect(attendees.last?["with_coach"] == false)

        // The coach checks e in (no device): the same event, checked_in.
        let checkIn = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"session.checked_in","id":"k1","user":"coach","session":"tue","member":"e"}"#),
                Self.event(#"{"type":"session.checked_in","id":"k2","user":"a","session":"tue","member":"e"}"#),  // forbidden
            ])
        #expect(Self.codes(checkIn) == [1: "forbidden"], "\(checkIn.jsonText)")
        _ = try Self.poll(daemon, ["op": "session", "session": "tue"]) { $0["attended"]?.arrayValue?.count == 3 }

        // 15 + 6 (60 minutes) points, doubled with the coach: 42 for a; e checked in with the coach too.
        let a = try Self.poll(daemon, ["op": "ledger", "user": "a"]) { ($0["entries"]?.arrayValue?.count ?? 0) >= 2 }
        let sessionPoints = (a["entries"]?.arrayValue ?? []).filter { $0["event"] == "attended:tue:a" }.compactMap { $0["points"]?.int64Value }.reduce(0, +)
        #expect(sessionPoints == 42, "\(a.jsonText)")

        // Killed again and restarted: nothing is raised or awarded twice.
        daemon.kill()
        try daemon.start()
        try daemon.waitForStages(["bonus", "community"])
        try await Task.sleep(for: .milliseconds(1500))  // ticks that would decide again
        let raised = try await Self.attended(daemon)
        #expect(raised.map(\.user).sorted() == ["a", "coach", "e"], "\(raised.map(\.id))")
        #expect(raised.first { $0.user == "e" }?.body["checked_in"]?.boolValue == true)
        let again = try daemon.request(["op": "ledger", "user": "a"])
        let pointsAgain = (again["entries"]?.arrayValue ?? []).filter { $0["event"] == "attended:tue:a" }.compactMap { $0["points"]?.int64Value }.reduce(0, +)
        #expect(pointsAgain == 42)
        for user in ["b", "c", "d", "stranger"] {
            let ledger = try daemon.request(["op": "ledger", "user": .string(user)])
            #expect(!(ledger["entries"]?.arrayValue ?? []).contains { $0["event"]?.stringValue?.hasPrefix("attended:") == true }, "\(user)")
        }
        let kept = try daemon.request(["op": "group", "group": "track"])
        #expect(kept["members"] == 6)
    }

    // MARK: Running together

    /// A run north at 3 m/s, `east` metres east of the others, a sample every 2 s.
    static func track(_ user: String, from: Int64, minutes: Int, east: Double = 0) -> [JSONValue] {
        (0..<(minutes * 30)).map { i in
            let north = 3 * Double(i * 2)
            let lonOffset = east / (111_195 * cos(lat * .pi / 180))
            return event(
                #"{"type":"telemetry","user":"\#(user)","device":"w-\#(user)","session":"t-\#(user)","ts":\#(from + Int64(i) * 2000),"lat":\#(lat + north / 111_195),"lon":\#(lon + lonOffset)}"#)
        }
    }

    @Test func runnersTogetherAreFoundWhileTheyRunAndRecommendTheirGroups() throws {
        let daemon = try DaemonProcess()
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "community: {together_idle: 1s}\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path])
        let feed = try daemon.subscriber("activity.community.ran_together")
        let start = Self.now - 3_600_000
        // Three run side by side for 30 minutes; a fourth runs the same route ten minutes later.
        let runs = [
            Self.track("ann", from: start, minutes: 30), Self.track("bob", from: start, minutes: 30, east: 30),
            Self.track("cat", from: start, minutes: 30, east: 60), Self.track("dan", from: start + 10 * 60_000, minutes: 30),
        ]
        let samples = runs.flatMap { $0 }.sorted { ($0["ts"]?.int64Value ?? 0) < ($1["ts"]?.int64Value ?? 0) }
        let push = try daemon.pusher()
        for chunk in stride(from: 0, to: samples.count, by: 100) {
            try push.send(JSONValue.array(Array(samples[chunk..<min(chunk + 100, samples.count)])).serialized())
        }
        let got = try feed.receive(count: 1, timeout: 8_000)
        let more = try feed.receive(count: 1, timeout: 2_500)  // dan's run, ten minutes behind, is not together
        #expect(got.count == 1 && more.isEmpty, "\((got + more).map(\.payload.jsonText))")
        let event = try #require(got.first?.payload["event"])
        #expect(event["users"] == ["ann", "bob", "cat"], "\(event.jsonText)")
        #expect((event["overlap_s"]?.int64Value ?? 0) >= 29 * 60)
        #expect((event["distance_m"]?.doubleValue ?? 0) > 5_000)
        // Each of the three earns the embedded programme's 10 points for it; dan nothing.
        for user in ["ann", "bob", "cat"] {
            let ledger = try Self.poll(daemon, ["op": "ledger", "user": .string(user)]) { ($0["entries"]?.arrayValue ?? []).contains { $0["rule"] == "ran-together" } }
            #expect((ledger["entries"]?.arrayValue ?? []).filter { $0["rule"] == "ran-together" }.compactMap { $0["points"]?.int64Value } == [10], "\(user)")
        }
        #expect(try daemon.request(["op": "balance", "user": "dan"])["points"] == 0)
        // The raised type is refused from clients.
        let forged = try Self.submit(daemon, [Self.event(#"{"type":"community.ran_together","id":"f","user":"dan","users":["dan","ann"]}"#)])
        #expect(Self.codes(forged) == [0: "unsupported_type"])

        // An interest group of ann's is recommended to bob, who ran with her.
        _ = try Self.submit(daemon, [Self.event(#"{"type":"group.created","id":"gt","user":"ann","group":"trail","kind":"interest","title":"Trail","interests":["trail"]}"#)])
        let recommended = try Self.poll(daemon, ["op": "recommendations", "user": "bob"]) { ($0["groups"]?.arrayValue?.count ?? 0) > 0 }
        #expect(recommended["groups"]?[0]?["group"] == "trail" && recommended["groups"]?[0]?["reason"] == "ran_with", "\(recommended.jsonText)")
        #expect(try daemon.request(["op": "recommendations", "user": "dan"])["groups"]?.arrayValue?.isEmpty == true)
    }

    // MARK: Competitions

    static func workout(_ id: String, _ user: String, km: Double, at start: Int64, source: String = "device") -> JSONValue {
        event(
            #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"\#(source)","sport":"run","start":\#(start),"duration_s":\#(Int(km * 330)),"distance_m":\#(km * 1000)}"#)
    }

    static func prizes(_ daemon: DaemonProcess, _ user: String) throws -> [Int64] {
        let ledger = try daemon.request(["op": "ledger", "user": .string(user)])
        return (ledger["entries"]?.arrayValue ?? []).filter { $0["rule"] == "competition:autumn" }.compactMap { $0["points"]?.int64Value }
    }

    @Test func aCompetitionIsDecidedOnceAndPaysItsPrizesOnceAcrossKill9() async throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let t = Self.now
        let end = Int64(Date().timeIntervalSince1970 * 1000) + 6_000
        let created = try Self.submit(
            daemon,
            [
                Self.event(
                    #"{"type":"competition.created","id":"k0","user":"org","competition":"autumn","title":"Autumn kilometres","scope":"everyone","goal":"total","metric":"distance","start":\#(t - 86_400_000),"end":\#(end),"grace_s":1,"prizes":[{"ranks":[1,1],"points":100},{"ranks":[2,3],"points":50}]}"#),
                Self.event(
                    #"{"type":"competition.created","id":"k1","user":"org","competition":"bad","title":"Backwards","goal":"total","metric":"distance","start":\#(t),"end":\#(t - 1000)}"#),
                Self.event(#"{"type":"competition.joined","id":"k2","user":"a","competition":"nope"}"#),
                Self.event(
                    #"{"type":"competition.created","id":"k3","user":"org","competition":"grp","title":"G","scope":{"group":"none"},"goal":"longest","metric":"distance","start":\#(t),"end":\#(t + 60_000)}"#),
                Self.event(#"{"type":"competition.joined","id":"k4","user":"a","competition":"autumn"}"#),
                Self.event(#"{"type":"competition.joined","id":"k5","user":"b","competition":"autumn"}"#),
                Self.event(#"{"type":"competition.joined","id":"k6","user":"c","competition":"autumn"}"#),
                Self.event(#"{"type":"competition.joined","id":"k7","user":"c","competition":"autumn"}"#),  // conflict
                Self.event(#"{"type":"competition.finished","id":"k8","user":"c","competition":"autumn"}"#),  // raised only
                Self.event(#"{"type":"connection","id":"k9","user":"c","system":"strava","state":"active"}"#),
            ])
        #expect(
            Self.codes(created) == [1: "out_of_range", 2: "unknown_competition", 3: "unknown_group", 7: "conflict", 8: "unsupported_type"],
            "\(created.jsonText)")
        let topic = try daemon.subscriber("competition.autumn")
        let hour: Int64 = 3_600_000
        let workouts = try Self.submit(
            daemon,
            [
                Self.workout("wa", "a", km: 10, at: t - 3 * hour), Self.workout("wb", "b", km: 5, at: t - 3 * hour),
                Self.workout("wc", "c", km: 7, at: t - 3 * hour), Self.workout("wc-copy", "c", km: 7, at: t - 3 * hour, source: "strava"),
                Self.workout("wd", "d", km: 20, at: t - 3 * hour),  // not entered
            ])
        #expect(workouts["accepted"] == 5, "\(workouts.jsonText)")
        let live = try topic.receive(count: 1)
        #expect(live.first?.payload["entries"]?.arrayValue?.isEmpty == false, "\(live.map(\.payload.jsonText))")
        // Killed before the end; the result is decided after the restart.
        daemon.kill()
        try daemon.start()
        let board = try Self.poll(daemon, ["op": "competition", "competition": "autumn", "user": "c"], timeout: 20) { $0["final"] == true }
        #expect(board["final"] == true, "\(board.jsonText)")
        #expect(board["entries"]?.arrayValue?.map { $0["user"] } == ["a", "c", "b"], "\(board.jsonText)")
        #expect(board["entries"]?[1]?["value"] == 7000, "the copy counts once")
        #expect(board["user"]?["rank"] == 2)
        _ = try Self.poll(daemon, ["op": "ledger", "user": "b"]) { ($0["entries"]?.arrayValue ?? []).contains { $0["rule"] == "competition:autumn" } }
        #expect(try Self.prizes(daemon, "a") == [100] && Self.prizes(daemon, "c") == [50] && Self.prizes(daemon, "b") == [50])
        #expect(try Self.prizes(daemon, "d").isEmpty)

        // After the final, a workout changes nothing; killed again, nothing is paid twice.
        _ = try Self.submit(daemon, [Self.workout("wb2", "b", km: 50, at: t - 2 * hour)])
        try daemon.waitForStages(["training", "bonus"])
        daemon.kill()
        try daemon.start()
        try daemon.waitForStages(["training", "bonus"])
        try await Task.sleep(for: .milliseconds(800))
        let after = try daemon.request(["op": "competition", "competition": "autumn"])
        #expect(after["entries"]?.arrayValue?.map { $0["user"] } == ["a", "c", "b"] && after["entries"]?[2]?["value"] == 5000, "\(after.jsonText)")
        #expect(try Self.prizes(daemon, "a") == [100] && Self.prizes(daemon, "b") == [50])
        let store = try await daemon.openStore()
        let log = try await store.activity(after: 0, limit: Int.max)
        #expect(log.filter { $0.type == "competition.finished" }.count == 1)
        #expect(log.filter { $0.type == "competition.prize" }.map(\.user).sorted() == ["a", "b", "c"])
        #expect(try daemon.request(["op": "competition", "competition": "nope"])["error"]?["code"] == "unknown_competition")
    }

    @Test func eachGroupBoardsRankAGroupsMembers() throws {
        let daemon = try DaemonProcess(pipelines: [
            "boards.yaml": "name: b\nleaderboards:\n  - {id: group-km, metric: distance, period: all_time, scope: each_group}\n"
        ])
        try daemon.start()
        let t = Self.now - 3_600_000
        let reply = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"group.created","id":"e1","user":"ann","group":"g1","kind":"joint","title":"One"}"#),
                Self.event(#"{"type":"group.created","id":"e2","user":"bob","group":"g2","kind":"joint","title":"Two"}"#),
                Self.event(#"{"type":"group.joined","id":"e3","user":"cat","group":"g1"}"#),
                Self.event(#"{"type":"group.joined","id":"e4","user":"cat","group":"g2"}"#),
                Self.workout("w1", "ann", km: 5, at: t), Self.workout("w2", "bob", km: 8, at: t), Self.workout("w3", "cat", km: 6, at: t),
                Self.workout("w4", "dan", km: 20, at: t),  // in no group
            ])
        #expect(reply["accepted"] == 8, "\(reply.jsonText)")
        let g1 = try Self.poll(daemon, ["op": "leaderboard", "board": "group-km", "group": "g1"]) { $0["entries"]?.arrayValue?.count == 2 }
        #expect(g1["entries"]?.arrayValue?.map { $0["user"] } == ["cat", "ann"] && g1["scope"] == "g1", "\(g1.jsonText)")
        let g2 = try daemon.request(["op": "leaderboard", "board": "group-km", "group": "g2"])
        #expect(g2["entries"]?.arrayValue?.map { $0["user"] } == ["bob", "cat"], "\(g2.jsonText)")
        #expect(try daemon.request(["op": "leaderboard", "board": "group-km"])["error"]?["code"] == "missing_field")
    }

    // MARK: Devices (User subsystem)

    @Test func devicesBelongToOneUserAndSurviveARestart() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        let reply = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"device.registered","id":"v1","user":"ann","device":"watch-1","kind":"watch","public_key":"\#(key)"}"#),
                Self.event(#"{"type":"device.registered","id":"v2","user":"bob","device":"watch-1","kind":"watch"}"#),  // conflict
                Self.event(#"{"type":"device.registered","id":"v3","user":"ann","device":"phone-1","kind":"phone"}"#),
                Self.event(#"{"type":"device.registered","id":"v4","user":"ann","device":"x","kind":"toaster"}"#),  // out_of_range
                Self.event(#"{"type":"device.registered","id":"v5","user":"ann","device":"y","kind":"watch","public_key":"short"}"#),  // wrong_type
                Self.event(#"{"type":"device.retired","id":"v6","user":"bob","device":"phone-1"}"#),  // unknown_device
                Self.event(#"{"type":"device.retired","id":"v7","user":"ann","device":"phone-1"}"#),
                Self.event(#"{"type":"device.renamed","id":"v8","user":"ann","device":"phone-1"}"#),  // unsupported_type
            ])
        #expect(
            Self.codes(reply) == [1: "conflict", 3: "out_of_range", 4: "wrong_type", 5: "unknown_device", 7: "unsupported_type"],
            "\(reply.jsonText)")
        func check() throws {
            let ann = try daemon.request(["op": "devices", "user": "ann"])
            #expect(ann["devices"]?.arrayValue?.map { $0["device"] } == ["watch-1", "phone-1"], "\(ann.jsonText)")
            #expect(ann["devices"]?.arrayValue?.map { $0["retired"] } == [false, true])
            #expect(ann["devices"]?[0]?["kind"] == "watch" && ann["devices"]?[0]?["registered_at"]?.int64Value != nil)
            #expect(try daemon.request(["op": "devices", "user": "bob"])["devices"]?.arrayValue?.isEmpty == true)
        }
        try check()
        daemon.kill()
        try daemon.start()
        try check()
        // Still decided after the restart: the gate was rebuilt from the log.
        let again = try Self.submit(daemon, [Self.event(#"{"type":"device.registered","id":"v9","user":"bob","device":"watch-1","kind":"watch"}"#)])
        #expect(Self.codes(again) == [0: "conflict"])
    }

    // MARK: Gear (User subsystem)

    /// Offer rules on the gear's numbers: `gear.worn` itself, and `user.gear_distance_m` on a
    /// workout that names no gear (the sport's default).
    static let gearOffers = """
        offers:
          - id: new-shoes
            title: Time for new shoes
            on: gear.worn
            offer: {text: "Your shoes are worn: 20% off a new pair.", discount_percent: 20, valid_for: 30d}
            audience: user
          - id: shoe-care
            title: Shoe care
            on: workout
            when: "user.gear_distance_m >= 5000 and user.gear_distance_m < 7000"
            offer: {text: "5 km on your shoes: a cleaning kit for less.", discount_percent: 5, valid_for: 30d}
            audience: user
            caps: {once_per: 30d}
        """

    @Test func gearAccruesCountedWorkoutsAndIsWornOnce() async throws {
        let daemon = try DaemonProcess()
        let offerRules = try daemon.writeOfferRules(["gear.yaml": Self.gearOffers])
        try daemon.start(extraArguments: offerRules)
        let rejected = try daemon.subscriber("rejected")
        let hour: Int64 = 3_600_000
        let t = Self.now - 48 * hour
        let reply = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"connection","id":"x0","user":"ann","system":"strava","state":"active"}"#),
                Self.event(#"{"type":"connection","id":"x0g","user":"ann","system":"garmin","state":"active"}"#),
                Self.event(#"{"type":"gear.added","id":"x1","user":"ann","gear":"shoes-1","kind":"shoes","title":"Trail shoes","sports":["run"],"retire_at_m":10000,"ts":\#(t)}"#),
                Self.event(#"{"type":"gear.added","id":"x2","user":"ann","gear":"bad","kind":"sofa"}"#),  // out_of_range
                Self.workout("r1", "ann", km: 6, at: t + hour), Self.workout("r1-copy", "ann", km: 6, at: t + hour, source: "strava"),
                Self.workout("r1-garmin", "ann", km: 6, at: t + hour, source: "garmin"),  // the device run, its Strava and Garmin copies: once
                Self.workout("r2", "ann", km: 5, at: t + 3 * hour),
                Self.event(#"{"type":"gear.retired","id":"x3","user":"ann","gear":"shoes-1","ts":\#(t + 4 * hour)}"#),
                Self.workout("r3", "ann", km: 7, at: t + 5 * hour),  // after the retirement: on no gear
                Self.event(#"{"type":"gear.retired","id":"x4","user":"ann","gear":"nope"}"#),  // unknown_gear, on rejected
            ])
        #expect(Self.codes(reply) == [3: "out_of_range"], "\(reply.jsonText)")
        let refused = try rejected.receive(count: 2)  // the submit's out_of_range, then the training stage's refusal
        #expect(refused.contains { $0.payload["code"] == "unknown_gear" && $0.payload["event"] == "x4" }, "\(refused.map(\.payload.jsonText))")
        let gear = try Self.poll(daemon, ["op": "gear", "user": "ann"]) { $0["gear"]?[0]?["workouts"] == 2 }
        let shoes = try #require(gear["gear"]?[0])
        #expect(shoes["distance_m"] == 11000 && shoes["workouts"] == 2 && shoes["retired"] == true, "\(gear.jsonText)")
        #expect(shoes["duration_s"] == 3630 && shoes["sports"] == ["run"] && shoes["title"] == "Trail shoes")
        try daemon.waitForStages(["training"])
        // The offer rules read the same numbers: shoe-care once the shoes' 6 km (r1, its copy not
        // counted), new-shoes on gear.worn; r2 (11 km) is past shoe-care's range.
        try daemon.waitForStages(["offers"])
        let offers = try daemon.request(["op": "offers", "user": "ann"])["offers"]?.arrayValue ?? []
        #expect(offers.compactMap { $0["rule"]?.stringValue }.sorted() == ["new-shoes", "shoe-care"], "\(offers.map(\.jsonText))")
        daemon.kill()
        try daemon.start(extraArguments: offerRules)
        try daemon.waitForStages(["training"])
        let store = try await daemon.openStore()
        let worn = try await store.activity(after: 0, limit: Int.max).filter { $0.type == "gear.worn" }
        #expect(worn.count == 1 && worn.first?.body["distance_m"]?.doubleValue == 11000, "\(worn.map(\.id))")
        #expect(try daemon.request(["op": "gear", "user": "ann"])["gear"]?[0]?["distance_m"] == 11000)
    }
}
