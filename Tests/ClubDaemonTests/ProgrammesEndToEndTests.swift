import ClubKernel
import ClubTestKit
import Foundation
import JSON
import Storage
import Testing

/// Training programmes through a real clubd: the catalogue ops, enrolment, steps fulfilled by
/// device, imported and copied workouts, misses by event time and by the clock, a pause, the
/// programme completed — across SIGTERM and `kill -9` — checked against the activity log.
@Suite(.serialized) struct ProgrammesEndToEndTests {
    static let day: Int64 = 86_400_000
    static let now = Int64(Date().timeIntervalSince1970 * 1000)
    /// Day 5 of the programme ends at about now.
    static let start = now - 5 * day

    static let catalogue = """
        exercises:
          - {id: run20, title: Run 20 minutes, sport: run, targets: {duration_s: 1200}}
          - {id: run3k, title: Run 3 km, sport: run, targets: {distance_m: 3000}}
          - id: squats
            title: Squats
            sport: strength
            category: legs
            media: [{kind: video, url: "https://media.example.com/squats.mp4"}]
            targets: {reps: 20}
        programmes:
          - id: week
            title: One week
            sport: run
            weeks: 1
            steps:
              - {step: 1, day: 1, exercise: run20}
              - {step: 2, day: 2, exercise: run3k}
              - {step: 3, day: 4, exercise: run20, duration_s: 1320}
              - {step: 4, day: 5, exercise: squats}
        """

    static func event(_ json: String) -> JSONValue { try! JSONValue.parse(json) }

    static func workout(_ id: String, _ user: String, source: String = "device", sport: String = "run", at: Int64, minutes: Double, km: Double = 0, reps: Int? = nil) -> JSONValue {
        let extra = reps.map { #","reps":\#($0)"# } ?? ""
        return event(
            #"{"type":"workout","id":"\#(id)","user":"\#(user)","source":"\#(source)","sport":"\#(sport)","start":\#(at),"duration_s":\#(minutes * 60),"distance_m":\#(km * 1000)\#(extra)}"#)
    }

    static func submit(_ daemon: DaemonProcess, _ events: [JSONValue]) throws -> JSONValue {
        try daemon.request(["op": "submit", "events": .array(events)])
    }

    /// Polls `progress` until `done` holds.
    static func progress(_ daemon: DaemonProcess, _ user: String, until done: (JSONValue) -> Bool) throws -> JSONValue {
        var reply = JSONValue.null
        for _ in 0..<300 {
            reply = try daemon.request(["op": "progress", "user": .string(user)])
            if done(reply) { return reply }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return reply
    }

    static func states(_ reply: JSONValue) -> [String] {
        reply["programmes"]?.arrayValue?.first?["steps"]?.arrayValue?.compactMap { $0["state"]?.stringValue } ?? []
    }

    @Test func theCatalogueOpsAnswerWhatTheFilesSay() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeCatalogue(["plan.yaml": Self.catalogue])
        try daemon.start(extraArguments: flags)
        let exercises = try daemon.request(["op": "exercises", "sport": "strength"])
        #expect(exercises["exercises"]?.arrayValue?.map { $0["id"] } == ["squats"], "\(exercises.jsonText)")
        #expect(exercises["exercises"]?[0]?["media"]?[0]?["url"] == "https://media.example.com/squats.mp4")
        #expect(exercises["exercises"]?[0]?["targets"]?["reps"] == 20)
        let list = try daemon.request(["op": "programmes"])
        #expect(list["programmes"]?.arrayValue?.first?["steps"] == 4 && list["programmes"]?[0]?["weeks"] == 1, "\(list.jsonText)")
        let programme = try daemon.request(["op": "programme", "programme": "week"])
        #expect(programme["steps"]?[2]?["exercise"]?["id"] == "run20")
        #expect(programme["steps"]?[2]?["targets"]?["duration_s"] == 1320)  // the step's override
        #expect(try daemon.request(["op": "programme", "programme": "none"])["error"]?["code"] == "unknown_programme")
        #expect(try daemon.request(["op": "programme"])["error"]?["code"] == "missing_field")
        // A bad reload keeps the old catalogue and says where the mistake is.
        try daemon.writeCatalogue(["broken.yaml": "exercises:\n  - {id: x, title: X, sport: run, targets: {reps: many}}\n"])
        let reload = try daemon.request(["op": "reload"])
        #expect(reload["error"]?["code"] == "invalid_definitions")
        #expect(reload["error"]?["message"]?.stringValue?.contains("broken.yaml:2:") == true, "\(reload.jsonText)")
        #expect(try daemon.request(["op": "programmes"])["programmes"]?.arrayValue?.count == 1)
        // Fixed: the new exercise is there.
        try daemon.writeCatalogue(["broken.yaml": "exercises:\n  - {id: x, title: X, sport: run, targets: {reps: 5}}\n"])
        #expect(try daemon.request(["op": "reload"])["ok"] == true)
        #expect(try daemon.request(["op": "exercises"])["exercises"]?.arrayValue?.count == 4)
    }

    @Test func enrolmentEventsAreCheckedAtTheDoor() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeCatalogue(["plan.yaml": Self.catalogue])
        try daemon.start(extraArguments: flags)
        let rejected = try daemon.subscriber("rejected")
        let reply = try Self.submit(daemon, [
            Self.event(#"{"type":"programme.enrolled","id":"e1","user":"ann","programme":"week"}"#),
            Self.event(#"{"type":"programme.enrolled","id":"e2","user":"ann","programme":"marathon","start":\#(Self.start)}"#),
            Self.event(#"{"type":"programme.enrolled","id":"e3","user":"ann","programme":"week","start":"yesterday"}"#),
            Self.event(#"{"type":"training.step_completed","id":"e4","user":"ann","programme":"week","step":1}"#),
            Self.event(#"{"type":"programme.joined","id":"e5","user":"ann","programme":"week"}"#),
            Self.event(#"{"type":"programme.paused","id":"e6","user":"ann","programme":"week"}"#),
        ])
        let codes = reply["rejected"]?.arrayValue?.map { "\($0["index"]!.int64Value!):\($0["code"]!.stringValue!)" }
        #expect(codes == ["0:missing_field", "1:unknown_programme", "2:invalid_timestamp", "3:unsupported_type", "4:unsupported_type"], "\(reply.jsonText)")
        #expect(reply["accepted"] == 1)
        // The pause is accepted into the log, but ann is not enrolled: the training stage says so.
        let published = try rejected.receive(count: 6).map { $0.payload }
        #expect(published.contains { $0["code"] == "not_enrolled" && $0["source"] == "training" && $0["event"] == "e6" }, "\(published.map(\.jsonText))")
    }

    @Test func progressFollowsWorkoutsAcrossRestartsAndKills() async throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeCatalogue(["plan.yaml": Self.catalogue])
        try daemon.start(extraArguments: flags)
        let s = Self.start
        let day = Self.day
        let hour: Int64 = 3_600_000
        // ann enrols; a ride, a short run and a run outside the day do nothing; a device run does step 1.
        var reply = try Self.submit(daemon, [
            Self.event(#"{"type":"connection","id":"c1","user":"ann","system":"strava","state":"active"}"#),
            Self.event(#"{"type":"connection","id":"c2","user":"ann","system":"garmin","state":"active"}"#),
            Self.event(#"{"type":"programme.enrolled","id":"en-ann","user":"ann","programme":"week","start":\#(s)}"#),
            Self.workout("ride", "ann", sport: "ride", at: s + 2 * hour, minutes: 60, km: 25),
            Self.workout("short", "ann", at: s + 4 * hour, minutes: 15),
            Self.workout("early", "ann", at: s - 2 * day, minutes: 40, km: 7),  // before day 1 − 1
            Self.workout("run1", "ann", at: s + 8 * hour, minutes: 25, km: 4),
        ])
        #expect(reply["accepted"] == 7, "\(reply.jsonText)")
        var progress = try Self.progress(daemon, "ann") { Self.states($0).first == "done" }
        #expect(Self.states(progress) == ["done", "open", "open", "open"], "\(progress.jsonText)")
        #expect(progress["programmes"]?[0]?["steps"]?[0]?["workout"] == "run1" && progress["programmes"]?[0]?["steps"]?[0]?["result"] == 1500)
        // Step 2 from Strava on day 3; then Garmin's copy of the same run, which takes precedence
        // and would fit step 3 too (day 4 ± 1, 22 minutes): it fulfils nothing twice.
        let stravaRun = Self.workout("strava:1", "ann", source: "strava", at: s + 2 * day + 7 * hour, minutes: 23, km: 3.2)
        let garminRun = Self.workout("garmin:1", "ann", source: "garmin", at: s + 2 * day + 7 * hour + 30_000, minutes: 23, km: 3.2)
        _ = try Self.submit(daemon, [stravaRun])
        _ = try Self.progress(daemon, "ann") { Self.states($0).dropFirst().first == "done" }  // no steps yet while the stage restores
        _ = try Self.submit(daemon, [garminRun])
        try daemon.waitForStages(["training"])
        daemon.kill()  // in the middle: nothing committed since
        try daemon.start(extraArguments: flags)
        progress = try Self.progress(daemon, "ann") { Self.states($0).dropFirst().first == "done" }  // no steps yet while the stage restores
        #expect(Self.states(progress) == ["done", "done", "open", "open"], "\(progress.jsonText)")
        #expect(progress["programmes"]?[0]?["steps"]?[1]?["workout"] == "strava:1")
        // A pause of 12 h on day 4 moves step 3 (day 4) and 4 (day 5) by 12 h.
        reply = try Self.submit(daemon, [
            Self.event(#"{"type":"programme.paused","id":"p1","user":"ann","programme":"week","ts":\#(s + 3 * day)}"#),
            Self.event(#"{"type":"programme.resumed","id":"r1","user":"ann","programme":"week","ts":\#(s + 3 * day + 12 * hour)}"#),
        ])
        progress = try Self.progress(daemon, "ann") { $0["programmes"]?[0]?["paused_s"] == 43_200 }
        #expect(progress["programmes"]?[0]?["steps"]?[2]?["to"]?.int64Value == s + 5 * day + 12 * hour, "\(progress.jsonText)")
        // An import on day 4 (short of the step's 22 minutes, then long enough), squats on day 5.
        _ = try Self.submit(daemon, [
            Self.workout("garmin:2", "ann", source: "garmin", at: s + 3 * day + 13 * hour, minutes: 20),
            Self.workout("garmin:3", "ann", source: "garmin", at: s + 3 * day + 15 * hour, minutes: 22),
            Self.workout("squat1", "ann", sport: "strength", at: s + 4 * day + 13 * hour, minutes: 10, reps: 19),
        ])
        progress = try Self.progress(daemon, "ann") { $0["programmes"]?[0]?["state"] == "completed" }
        #expect(Self.states(progress) == ["done", "done", "done", "done"], "\(progress.jsonText)")
        #expect(progress["programmes"]?[0]?["steps"]?[2]?["workout"] == "garmin:3")
        // bob starts on day 4: steps 1 and 2 are missed by his own event time; cy sent nothing
        // for weeks: the clock misses every step once the grace (7 days) has passed.
        _ = try Self.submit(daemon, [
            Self.event(#"{"type":"programme.enrolled","id":"en-bob","user":"bob","programme":"week","start":\#(s)}"#),
            Self.workout("bob1", "bob", at: s + 3 * day + 8 * hour, minutes: 30, km: 5),
            Self.event(#"{"type":"programme.enrolled","id":"en-cy","user":"cy","programme":"week","start":\#(s - 30 * day)}"#),
        ])
        progress = try Self.progress(daemon, "bob") { Self.states($0) == ["missed", "missed", "done", "open"] }
        #expect(Self.states(progress) == ["missed", "missed", "done", "open"], "\(progress.jsonText)")
        // bob's 30 min beat ann's 22 on step 3 (more is better): percentiles against each other.
        #expect(progress["programmes"]?[0]?["steps"]?[2]?["percentile"] == 100)
        progress = try Self.progress(daemon, "cy") { $0["programmes"]?[0]?["state"] == "ended" }
        #expect(Self.states(progress) == ["missed", "missed", "missed", "missed"], "\(progress.jsonText)")
        try daemon.waitForStages(["training"])
        #expect(daemon.terminate() == 0)
        try daemon.start(extraArguments: flags)
        daemon.kill()
        try daemon.start(extraArguments: flags)
        // Once more after both restarts: the same progress, nothing raised twice.
        progress = try Self.progress(daemon, "ann") { $0["programmes"]?[0]?["state"] == "completed" }
        #expect(Self.states(progress) == ["done", "done", "done", "done"])
        let ledger = try daemon.request(["op": "ledger", "user": "ann"])["entries"]?.arrayValue ?? []
        #expect(ledger.filter { $0["rule"] == "programme-step" }.count == 4, "\(ledger.map(\.jsonText))")
        #expect(ledger.filter { $0["rule"] == "programme-completed" }.count == 1)
        try daemon.waitForStages(["training"])
        daemon.kill()

        // The oracle: the activity log itself, read without the daemon.
        let store = try await daemon.openStore()
        let log = try await store.activity(after: 0, limit: 10_000)
        let raised = log.filter { $0.type.hasPrefix("training.step") || $0.type == "training.programme_completed" }
        let counts = Dictionary(grouping: raised, by: { "\($0.user) \($0.type)" }).mapValues(\.count)
        #expect(
            counts == [
                "ann training.step_completed": 4, "ann training.programme_completed": 1, "bob training.step_missed": 2,
                "bob training.step_completed": 1, "cy training.step_missed": 4,
            ], "\(counts)")
        #expect(Set(raised.map(\.id)).count == raised.count)
        // Each names its user in the event itself, as `activity.<type>` subscribers read it.
        let unnamed = raised.filter { $0.body["user"]?.stringValue != $0.user }
        #expect(unnamed.isEmpty, "\(unnamed.map { String(decoding: $0.json, as: UTF8.self) })")
        let completed = raised.first { $0.type == "training.step_completed" && $0.body["step"]?.int64Value == 4 }
        #expect(completed?.body["workout"] == "squat1" && completed?.body["result"] == 19, "\(completed.map { String(decoding: $0.json, as: UTF8.self) } ?? "")")
    }

}
