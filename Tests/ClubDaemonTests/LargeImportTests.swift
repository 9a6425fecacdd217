import ClubTestKit
import Foundation
import Imports
import JSON
import Testing

/// Long rides make large files (1–10 MB of FIT or TCX, more as GPX): `import` takes files up
/// to `imports.max_file_bytes` through the command socket, with the totals the decoder gives
/// the same file; every other request keeps the 1 MiB frame limit.
@Suite(.serialized) struct LargeImportTests {
    /// A GPX track of about `bytes` bytes: one point a second with heart rate, moving north.
    static func gpx(bytes target: Int) -> [UInt8] {
        var text = #"<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="clubd-tests"><trk><type>cycling</type><trkseg>"#
        text.reserveCapacity(target + 512)
        let start = Date(timeIntervalSince1970: 1_764_000_000)
        let formatter = ISO8601DateFormatter()
        var n = 0
        while text.utf8.count < target {
            let lat = 55.0 + Double(n) * 0.00005  // ≈ 5.6 m a second
            let time = formatter.string(from: start.addingTimeInterval(Double(n)))
            text += #"<trkpt lat="\#(lat)" lon="37.6"><ele>\#(150 + 20 * sin(Double(n) / 600))</ele><time>\#(time)</time>"#
                + "<extensions><hr>\(120 + n % 50)</hr></extensions></trkpt>\n"
            n += 1
        }
        text += "</trkseg></trk></gpx>"
        return Array(text.utf8)
    }

    static func connect(_ daemon: DaemonProcess, user: String) throws {
        let connection = try JSONValue.parse(#"{"type":"connection","id":"c-\#(user)","user":"\#(user)","system":"garmin","state":"active"}"#)
        #expect(try daemon.request(["op": "submit", "events": [connection]])["accepted"] == 1)
    }

    static func importRequest(_ file: [UInt8], user: String) -> [UInt8] {
        Array(#"{"op":"import","user":"\#(user)","system":"garmin","format":"gpx","data_base64":"\#(Data(file).base64EncodedString())"}"#.utf8)
    }

    @Test(arguments: [1, 5, 20])
    func importTakesLargeFilesWithTheDecodersTotals(megabytes: Int) throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let user = "rider-\(megabytes)"
        try Self.connect(daemon, user: user)
        let file = Self.gpx(bytes: megabytes << 20)
        let decoded = try #require(try ImportedWorkout.decode(file, format: .gpx).first)
        #expect(decoded.samples.count > 5000 * megabytes)

        let started = Date()
        let reply = try daemon.request(bytes: Self.importRequest(file, user: user), timeout: 120_000)
        print("large import: \(file.count) bytes, \(decoded.samples.count) points in \(Date().timeIntervalSince(started)) s")
        let workout = try #require(reply["workouts"]?.arrayValue?.first, "\(reply.jsonText.prefix(300))")
        #expect(workout["samples"]?.int64Value == Int64(decoded.samples.count))
        #expect(workout["distance_m"]?.doubleValue == (decoded.distance * 100).rounded() / 100)
        #expect(workout["duration_s"]?.doubleValue == decoded.elapsedSeconds)
        #expect(workout["sport"]?.stringValue == decoded.sport)
        #expect(workout["duplicate"] == false)
        // It is a workout of the user's like any other.
        let listed = try daemon.request(["op": "workouts", "user": .string(user)])["workouts"]?.arrayValue ?? []
        #expect(listed.count == 1 && listed.first?["distance_m"] == workout["distance_m"])
    }

    @Test func anImplausibleFileIsRefusedWithItsReason() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        try Self.connect(daemon, user: "ann")
        // 100 km of climbing in 2 hours: the training subsystem would not count it.
        var text = #"<?xml version="1.0"?><gpx version="1.1"><trk><trkseg>"#
        for n in 0..<7200 {
            text += #"<trkpt lat="55.0" lon="\#(37.0 + Double(n) * 0.00005)"><ele>\#(n % 2 == 0 ? 0 : 30)</ele><time>2026-11-20T10:\#(String(format: "%02d:%02d", n / 60 % 60, n % 60))Z</time></trkpt>"#
        }
        text += "</trkseg></trk></gpx>"
        let reply = try daemon.request(bytes: Self.importRequest(Array(text.utf8), user: "ann"), timeout: 30_000)
        #expect(reply["error"]?["code"] == "out_of_range", "\(reply.jsonText.prefix(300))")
        #expect(try daemon.request(["op": "workouts", "user": "ann"])["workouts"]?.arrayValue?.isEmpty == true)
    }

    @Test func filesAboveTheLimitAndLargeRequestsOfOtherOpsAreRefused() throws {
        let daemon = try DaemonProcess()
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "imports: {max_file_bytes: 2097152}\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path])
        try Self.connect(daemon, user: "ann")
        // Just above the limit, in base64 just above the request limit: refused before parsing.
        let tooLarge = try daemon.request(bytes: Self.importRequest(Self.gpx(bytes: 3 << 20), user: "ann"), timeout: 30_000)
        #expect(tooLarge["error"]?["code"] == "frame_too_large", "\(tooLarge.jsonText)")
        #expect(tooLarge["error"]?["message"]?.stringValue?.contains("imports.max_file_bytes") == true)
        // A file under the limit is taken.
        let fits = try daemon.request(bytes: Self.importRequest(Self.gpx(bytes: 1_500_000), user: "ann"), timeout: 30_000)
        #expect(fits["workouts"]?.arrayValue?.count == 1, "\(fits.jsonText.prefix(300))")
        // Any other op keeps the 1 MiB frame limit, even one that names "import" in its text.
        let padding = String(repeating: "x", count: 1 << 20)
        let submit = try daemon.request(
            bytes: Array(#"{"op":"submit","note":"import","events":[{"type":"club.visited","id":"v1","user":"ann","pad":"\#(padding)"}]}"#.utf8))
        #expect(submit["error"]?["code"] == "frame_too_large", "\(submit.jsonText)")
        #expect(try daemon.request(["op": "health"])["status"] == "ok")
    }
}
