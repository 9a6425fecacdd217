import ArgumentParser
import ClubTestKit
import Foundation
import Imports

/// FIT and GPX decoding speed on the shared sample files, beside a plain read of the same
/// bytes (a checksum over them) in the same run.
struct ImportsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imports", abstract: "FIT and GPX decoding in MB/s and records/s, beside a plain read of the same bytes.")

    @Option(help: "Seconds to spend on each measurement.") var seconds = 2.0

    func run() throws {
        guard SampleWorkouts.available else { throw ValidationError(SampleWorkouts.absence) }
        let fit = try ["Edge810-Vector-2013-08-16-15-35-10.fit", "sample-activity.fit", "event_timestamp.fit", "2013-02-06-12-11-14.fit"]
            .map { try SampleWorkouts.bytes("fit/\($0)") }
        let gpx = try ["blue_hills.gpx", "cerknicko-jezero.gpx", "Mojstrovka.gpx"].map { try SampleWorkouts.bytes("gpx/\($0)") }
        let tcx = try ["garmin_connect.tcx", "no_hr.tcx"].map { try SampleWorkouts.bytes("tcx/\($0)") }
        for (name, files, decode) in [
            ("FIT", fit, { (bytes: [UInt8]) in try FITDecoder.decode(bytes).records.count }),
            ("GPX", gpx, { (bytes: [UInt8]) in try GPXDecoder.decode(bytes).pointCount }),
            ("TCX", tcx, { (bytes: [UInt8]) in try TCXDecoder.decode(bytes).points.count }),
        ] as [(String, [[UInt8]], ([UInt8]) throws -> Int)] {
            let baseline = measure(files) { bytes in bytes.reduce(0) { $0 &+ Int($1) } }
            let decoded = try measureThrowing(files, decode)
            print(
                String(
                    format: "%@  plain read %8.1f MB/s | decode %7.1f MB/s, %10.0f records/s  (ratio %.3f)", name, baseline.megabytes,
                    decoded.megabytes, decoded.records, decoded.megabytes / baseline.megabytes))
        }
    }

    struct Rate {
        var megabytes: Double
        var records: Double
    }

    private func measure(_ files: [[UInt8]], _ body: ([UInt8]) -> Int) -> Rate {
        (try? measureThrowing(files, body)) ?? Rate(megabytes: 0, records: 0)
    }

    /// Runs `body` over all files again and again for `seconds`; `body` returns records read.
    private func measureThrowing(_ files: [[UInt8]], _ body: ([UInt8]) throws -> Int) throws -> Rate {
        var bytes = 0
        var records = 0
        var sink = 0
        let start = DispatchTime.now()
        var elapsed = 0.0
        repeat {
            for file in files {
                let count = try body(file)
                sink &+= count
                records += count
                bytes += file.count
            }
            elapsed = start.elapsedSeconds
        } while elapsed < seconds
        if sink == 42 { print("") }  // keeps the work observable
        return Rate(megabytes: Double(bytes) / 1e6 / elapsed, records: Double(records) / elapsed)
    }
}
