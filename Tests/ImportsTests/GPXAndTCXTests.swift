import Foundation
@testable import Imports
import Testing

/// Real GPX and TCX files against the values gpxpy 1.6.2 (`length_2d`, points, time bounds)
/// and tcxreader 0.4.11 (`read(file, only_gps=False)`: trackpoints, distance, duration, heart
/// rate) report for them.
@Suite(WorkoutFiles.condition) struct GPXAndTCXTests {
    struct Expected: Sendable, CustomStringConvertible {
        let file: String
        let points: Int
        let distance: Double
        let elapsed: Double
        let sport: String
        var description: String { file }
    }

    static let gpx: [Expected] = [
        Expected(file: "cerknicko-jezero.gpx", points: 296, distance: 4580.137, elapsed: 7190, sport: "other"),
        Expected(file: "strava.gpx", points: 3, distance: 7479.388, elapsed: 7723, sport: "other"),
        Expected(file: "track-with-empty-segment.gpx", points: 9, distance: 85.949, elapsed: 76, sport: "other"),
    ]

    @Test(arguments: gpx)
    func gpxTracksMatchGpxpy(_ e: Expected) throws {
        let bytes = try WorkoutFiles.bytes("gpx/\(e.file)")
        let track = try GPXDecoder.decode(bytes)
        #expect(track.pointCount == e.points)
        let workout = try #require(try ImportedWorkout.decode(bytes, format: .gpx).first)
        #expect(abs(workout.distance - e.distance) / e.distance < 0.005, "\(workout.distance) vs \(e.distance)")
        #expect(workout.elapsedSeconds == e.elapsed)
        #expect(workout.samples.count == e.points)
    }

    /// Files with points but not a workout (no times), or with other content only.
    @Test(arguments: [
        ("Mojstrovka.gpx", 184, 2700.646), ("cerknicko-without-times.gpx", 296, 4580.137), ("blue_hills.gpx", 1243, 51955.266),
    ])
    func gpxLengthsMatchGpxpyEvenWithoutTimes(file: String, points: Int, length: Double) throws {
        let track = try GPXDecoder.decode(try WorkoutFiles.bytes("gpx/\(file)"))
        #expect(track.pointCount == points)
        let distance = ImportedWorkout.pathLength(track.segments)
        #expect(abs(distance - length) / length < 0.005, "\(distance) vs \(length)")
    }

    @Test func gpxExtensionsAndVersionsAreRead() throws {
        let v10 = try GPXDecoder.decode(try WorkoutFiles.bytes("gpx/gpx1.0_with_all_fields.gpx"))
        let v11 = try GPXDecoder.decode(try WorkoutFiles.bytes("gpx/gpx1.1_with_all_fields.gpx"))
        #expect(v10.pointCount == 1 && v11.pointCount == 1)
        #expect(v11.segments.first?.first?.altitude != nil)
        let strava = try GPXDecoder.decode(try WorkoutFiles.bytes("gpx/strava.gpx")).segments.flatMap { $0 }
        #expect(strava.map(\.heartRate) == [117, 154, 160])  // gpxtpx:TrackPointExtension
        #expect(strava.map(\.cadence) == [85, 79, 85])
        #expect(try GPXDecoder.decode(try WorkoutFiles.bytes("gpx/garmin_extensions.gpx")).pointCount == 4)
        #expect(try GPXDecoder.decode(try WorkoutFiles.bytes("gpx/unicode_with_bom.gpx")).pointCount == 0)
    }

    @Test(arguments: [
        ("gpx/bad.gpx", WorkoutFormat.gpx, "gpx_invalid"),
        ("gpx/unicode_with_bom.gpx", .gpx, "no_workout"),
        ("gpx/Mojstrovka.gpx", .gpx, "no_workout"),
        ("tcx/bad.tcx", .tcx, "tcx_invalid"),
    ])
    func unusableFilesAreRefusedWithAReason(file: String, format: WorkoutFormat, code: String) throws {
        do {
            let workouts = try ImportedWorkout.decode(try WorkoutFiles.bytes(file), format: format)
            Issue.record("accepted: \(workouts.map(\.distance))")
        } catch let error as ImportError {
            #expect(error.code == code, "\(error)")
        }
    }

    static let tcx: [Expected] = [
        Expected(file: "sample.tcx", points: 19, distance: 8348.5039063, elapsed: 1431, sport: "run"),
        Expected(file: "no_hr.tcx", points: 384, distance: 4689.24267578, elapsed: 1992, sport: "run"),
        Expected(file: "garmin_connect.tcx", points: 317, distance: 1691.68, elapsed: 4352, sport: "ride"),
        Expected(file: "sup_activity_1.tcx", points: 111, distance: 1157.51, elapsed: 1112, sport: "other"),
    ]

    @Test(arguments: tcx)
    func tcxActivitiesMatchTcxreader(_ e: Expected) throws {
        let workout = try #require(try ImportedWorkout.decode(try WorkoutFiles.bytes("tcx/\(e.file)"), format: .tcx).first)
        #expect(workout.samples.count == e.points)
        #expect(abs(workout.distance - e.distance) / e.distance < 0.005, "\(workout.distance) vs \(e.distance)")
        #expect(workout.elapsedSeconds == e.elapsed)
        #expect(workout.sport == e.sport)
    }

    @Test func tcxHeartRateMatchesTcxreader() throws {
        let workout = try #require(try ImportedWorkout.decode(try WorkoutFiles.bytes("tcx/sup_activity_1.tcx"), format: .tcx).first)
        #expect(abs(workout.averageHeartRate! - 88.12612612612612) < 1e-9)
        #expect(workout.maxHeartRate == 106)
    }
}

/// Hostile and broken XML: refused with a reason, in bounded time and memory.
@Suite struct HostileXMLTests {
    func code(_ text: String, _ format: WorkoutFormat = .gpx) -> String? {
        do {
            _ = try ImportedWorkout.decode(Array(text.utf8), format: format)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func entityExpansionAndExternalEntitiesAreRefused() {
        let laughs = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
            <gpx><trk><name>&lol2;</name></trk></gpx>
            """
        #expect(code(laughs) == "xml_doctype")
        let external = #"<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]><gpx>&x;</gpx>"#
        #expect(code(external) == "xml_doctype")
        #expect(code("<gpx><trk><name>&nbsp;</name></trk></gpx>") == "xml_entity")
    }

    @Test func deepNestingTruncationAndGarbageAreRefused() {
        #expect(code(String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)) == "xml_too_deep")
        #expect(code("<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"><time>2020-01-01T00:00:00Z</time>") == "file_truncated")
        #expect(code("<gpx></trk>") == "xml_malformed")
        #expect(code("not xml at all") == "xml_malformed")
        #expect(code("<TrainingCenterDatabase><Activities/></TrainingCenterDatabase>", .tcx) == "no_workout")
        #expect(code("<gpx/>", .tcx) == "tcx_invalid")
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let seed = Array(#"<gpx><trk><trkseg><trkpt lat="46.1" lon="14.5"><ele>300</ele><time>2020-01-01T00:00:00Z</time></trkpt></trkseg></trk></gpx>"#.utf8)
        for _ in 0..<5000 {
            var copy = seed
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                copy[Int.random(in: 0..<copy.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? ImportedWorkout.decode(copy, format: .gpx)
            _ = try? ImportedWorkout.decode(copy, format: .tcx)
        }
    }
}
