import Foundation
import Imports
import Testing

/// Real FIT files against the values two reference decoders report for them: fitdecode 0.11
/// and Garmin's FIT SDK for Python 21.218 (`garmin_fit_sdk.Decoder`), which agree on all of them.
@Suite(WorkoutFiles.condition) struct FITDecoderTests {
    struct Expected: Sendable, CustomStringConvertible {
        let file: String
        let records: Int
        let laps: Int
        let start: String
        let elapsed: Double
        let timer: Double
        let distance: Double
        let sport: String
        let averageHeartRate: Double?
        let maxHeartRate: Double?
        var description: String { file }
    }

    static let expected: [Expected] = [
        Expected(file: "2013-02-06-12-11-14.fit", records: 590, laps: 5, start: "2013-02-06T12:11:14Z", elapsed: 2625.14, timer: 2625.14, distance: 4835.38, sport: "run", averageHeartRate: 147, maxHeartRate: 171),
        Expected(file: "Edge810-Vector-2013-08-16-15-35-10.fit", records: 4700, laps: 8, start: "2013-08-16T18:05:10Z", elapsed: 4700.05, timer: 4700.05, distance: 41339.38, sport: "ride", averageHeartRate: 154, maxHeartRate: 176),
        Expected(file: "elemnt-bolt-no-application-id-inside-developer-data-id.fit", records: 132, laps: 1, start: "2017-08-21T08:18:00Z", elapsed: 140, timer: 132, distance: 963.65, sport: "ride", averageHeartRate: nil, maxHeartRate: nil),
        Expected(file: "event_timestamp.fit", records: 4376, laps: 99, start: "2017-06-13T13:42:30Z", elapsed: 4567.485, timer: 4371.56, distance: 2606.04, sport: "swim", averageHeartRate: 142, maxHeartRate: 161),
        Expected(file: "garmin-edge-820-bike.fit", records: 15, laps: 1, start: "2017-06-12T16:10:15Z", elapsed: 64.524, timer: 64.524, distance: 457.12, sport: "ride", averageHeartRate: 116, maxHeartRate: 121),
        Expected(file: "garmin-fenix-5-bike.fit", records: 19, laps: 1, start: "2017-06-12T16:09:22Z", elapsed: 60.363, timer: 60.363, distance: 459.52, sport: "ride", averageHeartRate: 101, maxHeartRate: 114),
        Expected(file: "garmin-fenix-5-run.fit", records: 21, laps: 1, start: "2017-06-11T14:34:09Z", elapsed: 56.887, timer: 56.887, distance: 157.56, sport: "run", averageHeartRate: 90, maxHeartRate: 112),
        Expected(file: "garmin-fenix-5-walk.fit", records: 17, laps: 1, start: "2017-06-11T14:32:51Z", elapsed: 45.379, timer: 45.379, distance: 67.85, sport: "walk", averageHeartRate: 75, maxHeartRate: 82),
        Expected(file: "sample-activity-indoor-trainer.fit", records: 2263, laps: 5, start: "2011-11-02T12:54:19Z", elapsed: 2261.85, timer: 2261.85, distance: 0, sport: "ride", averageHeartRate: 148, maxHeartRate: 176),
        Expected(file: "sample-activity.fit", records: 3098, laps: 4, start: "2011-06-26T21:18:39Z", elapsed: 11741.57, timer: 10699.36, distance: 88797.21, sport: "ride", averageHeartRate: 166, maxHeartRate: 191),
    ]

    static func millis(_ iso: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000)
    }

    @Test(arguments: expected)
    func sessionsAndRecordsMatchTheReferenceDecoders(_ e: Expected) throws {
        let activity = try FITDecoder.decode(try WorkoutFiles.bytes("fit/\(e.file)"))
        #expect(activity.fileType == 4)
        #expect(activity.records.count == e.records)
        #expect(activity.laps == e.laps)
        let session = try #require(activity.sessions.first)
        #expect(activity.sessions.count == 1)
        #expect(session.start == Self.millis(e.start))
        #expect(session.elapsed == e.elapsed && session.timer == e.timer)
        #expect(session.distance == e.distance)
        #expect(session.sportName == e.sport)
        #expect(session.averageHeartRate == e.averageHeartRate && session.maxHeartRate == e.maxHeartRate)
    }

    /// python-fitparse's record dumps (fit/*-records.csv): every record's time, heart rate,
    /// distance, position and altitude.
    @Test(arguments: ["garmin-edge-820-bike", "garmin-fenix-5-bike", "garmin-fenix-5-run", "garmin-fenix-5-walk"])
    func recordsMatchPythonFitparse(_ name: String) throws {
        let activity = try FITDecoder.decode(try WorkoutFiles.bytes("fit/\(name).fit"))
        let csv = String(decoding: try WorkoutFiles.bytes("fit/\(name)-records.csv"), as: UTF8.self)
        let rows = csv.split(whereSeparator: \.isNewline).dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == activity.records.count)
        let parser = DateFormatter()
        parser.locale = Locale(identifier: "en_US_POSIX")
        parser.dateFormat = "EEE MMM d HH:mm:ss zzz yyyy"
        for (row, record) in zip(rows, activity.records) {
            // timestamp,heart_rate,cadence,speed,distance,position_lat,position_long,altitude,temperature
            #expect(record.time == parser.date(from: row[0]).map { Int64($0.timeIntervalSince1970 * 1000) }, "\(row)")
            #expect(record.heartRate == Double(row[1]), "\(row)")
            #expect(record.distance.map { abs($0 - Double(row[4])!) < 1e-9 } ?? (row[4].isEmpty), "\(row)")
            if let lat = Double(row[5]) { #expect(abs(record.latitude! - lat * 180 / 2_147_483_648) < 1e-12) }
            if let altitude = Double(row[7]) { #expect(abs(record.altitude! - altitude) < 1e-9, "\(row)") }
        }
    }

    @Test(arguments: [
        ("activity-filecrc.fit", "crc_mismatch"),
        ("activity-unexpected-eof.fit", "file_truncated"),
        ("activity-settings-corruptheader.fit", "not_fit"),
        ("strava-android-app-201.10-b1218918.fit", "file_truncated"),
    ])
    func damagedFilesAreRefusedWithAReason(file: String, code: String) throws {
        #expect(throws: ImportError.self) { try FITDecoder.decode(try WorkoutFiles.bytes("fit/\(file)")) }
        do { _ = try FITDecoder.decode(try WorkoutFiles.bytes("fit/\(file)")) } catch let error as ImportError {
            #expect(error.code == code, "\(error)")
        }
    }

    @Test func monitoringFilesAreNotActivities() throws {
        let activity = try FITDecoder.decode(try WorkoutFiles.bytes("fit/MonitoringFile.fit"))
        #expect(activity.fileType == 32 && activity.sessions.isEmpty && activity.records.isEmpty)
    }

    /// Every prefix and thousands of random corruptions of a real file are decoded or refused
    /// with a reason; never a crash or a hang.
    @Test func truncatedAndCorruptedFilesNeverCrash() throws {
        let file = try WorkoutFiles.bytes("fit/garmin-fenix-5-run.fit")
        for length in 0..<file.count { _ = try? FITDecoder.decode(Array(file.prefix(length))) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var copy = file
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                copy[Int.random(in: 0..<copy.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? FITDecoder.decode(copy)
        }
    }
}
