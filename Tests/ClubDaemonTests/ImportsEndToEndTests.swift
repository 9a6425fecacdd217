import ClubTestKit
import Foundation
import JSON
import Testing

/// External workouts through a real clubd: consent, the import op, duplicates across
/// sources, the Strava activity shape, damaged and hostile files.
@Suite(.serialized, .enabled(if: SampleWorkouts.available, Comment(rawValue: SampleWorkouts.absence)))
struct ImportsEndToEndTests {
    static func connection(_ id: String, _ user: String, _ system: String, _ state: String) -> JSONValue {
        try! JSONValue.parse(#"{"type":"connection","id":"\#(id)","user":"\#(user)","system":"\#(system)","state":"\#(state)"}"#)
    }

    static func importRequest(_ file: String, user: String, system: String = "garmin") throws -> JSONValue {
        let format = String(file.split(separator: ".").last!)
        return [
            "op": "import", "user": .string(user), "system": .string(system), "format": .string(format),
            "data_base64": .string(Data(try SampleWorkouts.bytes(file)).base64EncodedString()),
        ]
    }

    @Test func importsNeedAnActiveConnectionOfThatUserToThatSystem() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let rejected = try daemon.subscriber("rejected")
        // Before any link: refused, with the reason.
        let before = try daemon.request(try Self.importRequest("fit/garmin-fenix-5-run.fit", user: "ann"))
        #expect(before["error"]?["code"] == "no_consent", "\(before.jsonText)")
        // Another user's connection does not count, nor one to another system.
        _ = try daemon.request(["op": "submit", "events": [Self.connection("c-bob", "bob", "garmin", "active"), Self.connection("c-ann-p", "ann", "polar", "active")]])
        #expect(try daemon.request(try Self.importRequest("fit/garmin-fenix-5-run.fit", user: "ann"))["error"]?["code"] == "no_consent")
        // Linked: imported, with the file's own totals.
        _ = try daemon.request(["op": "submit", "events": [Self.connection("c-ann", "ann", "garmin", "active")]])
        let imported = try daemon.request(try Self.importRequest("fit/garmin-fenix-5-run.fit", user: "ann"))
        let workout = imported["workouts"]?.arrayValue?.first
        #expect(workout?["distance_m"] == 157.56 && workout?["duration_s"] == 56.887 && workout?["samples"] == 21, "\(imported.jsonText)")
        #expect(workout?["source"] == "garmin" && workout?["sport"] == "run" && workout?["duplicate"] == false)
        // The same file again: a duplicate, not a second workout.
        let again = try daemon.request(try Self.importRequest("fit/garmin-fenix-5-run.fit", user: "ann"))
        #expect(again["workouts"]?.arrayValue?.first?["duplicate"] == true)
        // Revoked: further imports stop at once, also workout events from that system.
        _ = try daemon.request(["op": "submit", "events": [Self.connection("c-ann-2", "ann", "garmin", "revoked")]])
        #expect(try daemon.request(try Self.importRequest("tcx/sample.tcx", user: "ann"))["error"]?["code"] == "no_consent")
        let event = try JSONValue.parse(
            #"{"type":"workout","id":"garmin:x1","user":"ann","source":"garmin","sport":"run","start":1764237600000,"duration_s":600}"#)
        let submitted = try daemon.request(["op": "submit", "events": [Self.connection("c-zed", "zed", "strava", "active"), event]])
        #expect(submitted["accepted"] == 1)
        #expect(submitted["rejected"]?.arrayValue?.first?["index"] == 1 && submitted["rejected"]?.arrayValue?.first?["code"] == "no_consent")
        let published = try rejected.receive(count: 1)
        #expect(published.first?.payload["code"] == "no_consent")
        // What was imported before the revocation stays (see docs/imports.md).
        let listed = try daemon.request(["op": "workouts", "user": "ann"])["workouts"]?.arrayValue ?? []
        #expect(listed.contains { $0["source"] == "garmin" })
        // The user asks to delete what was imported from Garmin: gone from their workouts.
        let forgot = try daemon.request(["op": "forget_imports", "user": "ann", "system": "garmin"])
        #expect(forgot["deleted"] == 1, "\(forgot.jsonText)")
        var remaining: [JSONValue] = listed
        for _ in 0..<100 where remaining.contains(where: { $0["source"] == "garmin" }) {
            Thread.sleep(forTimeInterval: 0.02)
            remaining = try daemon.request(["op": "workouts", "user": "ann"])["workouts"]?.arrayValue ?? []
        }
        #expect(!remaining.contains { $0["source"] == "garmin" })
        #expect(!remaining.contains { $0["counted"] == true })  // nor the session its samples made
        // A restart keeps the consent state.
        daemon.kill()
        try daemon.start()
        #expect(try daemon.request(try Self.importRequest("tcx/sample.tcx", user: "ann"))["error"]?["code"] == "no_consent")
        #expect(try daemon.request(try Self.importRequest("fit/garmin-fenix-5-bike.fit", user: "bob"))["ok"] == true)
    }

    /// The watch records a run through the club (a device workout); Garmin and Strava deliver
    /// the same run: one workout counts, by the source priority (device first).
    @Test func aDeviceSessionAndTheSameWorkoutFromTwoSystemsCountOnce() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let start: Int64 = 1_497_191_649_000  // the FIT file's session start
        let device = try JSONValue.parse(
            #"{"type":"workout","id":"dev-1","user":"cy","source":"device","sport":"run","start":\#(start - 2000),"duration_s":58,"distance_m":160}"#)
        let strava = try JSONValue.parse(
            #"{"type":"workout","id":"strava:99","user":"cy","source":"strava","activity":{"id":99,"sport_type":"Run","start_date":"2017-06-11T14:34:12Z","elapsed_time":55,"moving_time":50,"distance":158.2,"total_elevation_gain":2,"average_heartrate":91.5,"max_heartrate":112}}"#)
        let reply = try daemon.request([
            "op": "submit",
            "events": [Self.connection("c1", "cy", "garmin", "active"), Self.connection("c2", "cy", "strava", "active"), device, strava],
        ])
        #expect(reply["accepted"] == 4, "\(reply.jsonText)")
        #expect(try daemon.request(try Self.importRequest("fit/garmin-fenix-5-run.fit", user: "cy"))["ok"] == true)
        var workouts: [JSONValue] = []
        for _ in 0..<100 {
            workouts = try daemon.request(["op": "workouts", "user": "cy"])["workouts"]?.arrayValue ?? []
            if workouts.count >= 3 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let bySource = Dictionary(workouts.map { ($0["source"]!.stringValue!, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(bySource["device"]?["counted"] == true)
        #expect(bySource["garmin"]?["counted"] == false && bySource["strava"]?["counted"] == false, "\(workouts.map(\.jsonText))")
        // The Strava activity's fields were mapped onto the contract's.
        #expect(bySource["strava"]?["distance_m"] == 158.2 && bySource["strava"]?["moving_time_s"] == 50 && bySource["strava"]?["avg_hr"] == 91.5)
        #expect(workouts.filter { $0["counted"] == true }.count == 1)
    }

    @Test func theDropFolderImportsFilesAndSortsThemIntoDoneAndFailed() throws {
        let daemon = try DaemonProcess()
        let drop = daemon.directory.appendingPathComponent("drop")
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "imports: {drop_dir: \(drop.path), scan_interval: 100ms}\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path])
        _ = try daemon.request(["op": "submit", "events": [Self.connection("c1", "ann", "garmin", "active")]])
        let files = [
            ("garmin/ann/run.fit", "fit/garmin-fenix-5-run.fit"), ("garmin/ann/broken.fit", "fit/activity-filecrc.fit"),
            ("garmin/bob/ride.gpx", "gpx/strava.gpx"),
        ]
        for (target, source) in files {
            let url = drop.appendingPathComponent(target)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(try SampleWorkouts.bytes(source)).write(to: url)
            // Settled: written "long ago", so the next scan takes it.
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: url.path)
        }
        let outcomes = ["done/garmin/ann/run.fit", "failed/garmin/ann/broken.fit.error", "failed/garmin/bob/ride.gpx.error"]
        for _ in 0..<200 where !outcomes.allSatisfy({ FileManager.default.fileExists(atPath: drop.appendingPathComponent($0).path) }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        for outcome in outcomes { #expect(FileManager.default.fileExists(atPath: drop.appendingPathComponent(outcome).path), "\(outcome)") }
        let crc = try String(contentsOf: drop.appendingPathComponent("failed/garmin/ann/broken.fit.error"), encoding: .utf8)
        #expect(crc.hasPrefix("crc_mismatch:"))
        let consent = try String(contentsOf: drop.appendingPathComponent("failed/garmin/bob/ride.gpx.error"), encoding: .utf8)
        #expect(consent.hasPrefix("no_consent:"))
        #expect(!FileManager.default.fileExists(atPath: drop.appendingPathComponent("garmin/ann/run.fit").path))
        let workouts = try daemon.request(["op": "workouts", "user": "ann"])["workouts"]?.arrayValue ?? []
        #expect(workouts.contains { $0["source"] == "garmin" && $0["distance_m"] == 157.56 })
    }

    @Test func damagedAndHostileFilesAreRefusedAndTheDaemonCarriesOn() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        _ = try daemon.request(["op": "submit", "events": [Self.connection("c1", "di", "garmin", "active")]])
        for (file, code) in [
            ("fit/activity-filecrc.fit", "crc_mismatch"), ("fit/activity-unexpected-eof.fit", "file_truncated"),
            ("fit/MonitoringFile.fit", "not_an_activity"), ("gpx/bad.gpx", "gpx_invalid"), ("tcx/bad.tcx", "tcx_invalid"),
        ] {
            #expect(try daemon.request(try Self.importRequest(file, user: "di"))["error"]?["code"] == .string(code), "\(file)")
        }
        let bomb = #"<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><gpx>&b;</gpx>"#
        let hostile = try daemon.request([
            "op": "import", "user": "di", "system": "garmin", "format": "gpx", "data_base64": .string(Data(bomb.utf8).base64EncodedString()),
        ])
        #expect(hostile["error"]?["code"] == "xml_doctype")
        #expect(try daemon.request(["op": "import", "user": "di", "system": "garmin", "format": "doc", "data_base64": "AA=="])["error"]?["code"] == "wrong_type")
        #expect(try daemon.request(["op": "import", "user": "di", "system": "device", "format": "fit", "data_base64": "AA=="])["error"]?["code"] == "missing_field")
        #expect(try daemon.request(["op": "health"])["status"] == "ok")
        // A good file still imports after all that.
        #expect(try daemon.request(try Self.importRequest("gpx/strava.gpx", user: "di"))["ok"] == true)
    }
}
