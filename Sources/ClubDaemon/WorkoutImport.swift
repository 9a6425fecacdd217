import Events
import Imports
import JSON

/// Turns an imported workout into the contract's events: a `workout` event and telemetry.
enum WorkoutImport {
    /// 16 hex digits of an FNV-1a hash of the user and the file: importing the same file for
    /// the same user again gives the same workout ids (a duplicate, not a second workout).
    static func fingerprint(user: String, file: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array(user.utf8) + [0] + file {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The `workout` event of an imported workout.
    static func event(_ workout: ImportedWorkout, id: String, user: String, system: String, format: WorkoutFormat, sport: String?) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("type", "workout")
        w.member("id", id)
        w.member("user", user)
        w.member("source", system)
        w.member("sport", sport ?? workout.sport)
        w.member("start", Int(workout.start))
        w.member("duration_s", workout.elapsedSeconds)
        w.member("moving_time_s", workout.movingSeconds)
        w.member("distance_m", (workout.distance * 100).rounded() / 100)
        if let hr = workout.averageHeartRate { w.member("avg_hr", (hr * 10).rounded() / 10) }
        if let hr = workout.maxHeartRate { w.member("max_hr", hr) }
        w.member("elevation_gain_m", (workout.elevationGain * 100).rounded() / 100)
        w.member("samples", workout.samples.count)
        w.member("format", format.rawValue)
        w.endObject()
        return w.bytes
    }

    /// The workout's timed samples as telemetry of device `system`, session `id`; the
    /// cumulative distance is the file's where it has one, else measured along the track.
    static func samples(_ workout: ImportedWorkout, id: String, user: String, system: String) -> [TelemetrySample] {
        var result: [TelemetrySample] = []
        result.reserveCapacity(workout.samples.count)
        var travelled = 0.0
        var previous: TrackPoint?
        for point in workout.samples {
            defer { previous = point }
            if let previous, let step = previous.distance(to: point) { travelled += step }
            guard let time = point.time else { continue }
            result.append(
                TelemetrySample(
                    user: user, device: system, session: id, ts: time, sport: workout.sport, distance: point.distance ?? travelled,
                    heartRate: point.heartRate, speed: point.speed, cadence: point.cadence, power: point.power,
                    latitude: point.latitude, longitude: point.longitude, altitude: point.altitude))
        }
        return result
    }
}
