/// The file formats clubd imports.
public enum WorkoutFormat: String, Sendable, CaseIterable {
    case fit, gpx, tcx
}

/// A workout read from a file: its totals and its samples. Where the format carries the
/// device's own totals they are used (FIT sessions; TCX lap distances and times); otherwise
/// they are computed from the samples (see docs/imports.md).
public struct ImportedWorkout: Sendable, Equatable {
    public var sport: String
    /// Epoch milliseconds.
    public var start: Int64
    public var elapsedSeconds: Double
    public var movingSeconds: Double
    /// Metres.
    public var distance: Double
    public var averageHeartRate: Double?
    public var maxHeartRate: Double?
    /// Metres.
    public var elevationGain: Double
    public var samples: [TrackPoint]

    /// Reads the workouts of a file: one per FIT session, one per GPX or TCX file.
    /// - Throws: ``ImportError`` when the file is damaged or holds no workout.
    public static func decode(_ bytes: [UInt8], format: WorkoutFormat) throws(ImportError) -> [ImportedWorkout] {
        switch format {
        case .fit: return try fromFIT(FITDecoder.decode(bytes))
        case .gpx: return [try fromGPX(GPXDecoder.decode(bytes))]
        case .tcx: return [try fromTCX(TCXDecoder.decode(bytes))]
        }
    }

    /// Speed below which time between two samples does not count as moving (m/s).
    static let movingSpeed = 0.5
    /// A gap between samples longer than this is a pause, not movement (seconds).
    static let longestMovingGap = 60.0

    static func fromFIT(_ file: FITActivity) throws(ImportError) -> [ImportedWorkout] {
        guard file.fileType == nil || file.fileType == 4 else {
            throw ImportError("not_an_activity", "this FIT file is of type \(file.fileType!) (an activity is type 4): nothing to import")
        }
        let samples = file.records
        guard !file.sessions.isEmpty else { return [try fromSamples(samples, sport: "other")] }
        return try file.sessions.map { session throws(ImportError) in
            guard let start = session.start ?? samples.first?.time, let elapsed = session.elapsed else {
                throw ImportError("fit_incomplete", "a session without start time or elapsed time")
            }
            let end = session.end ?? start + Int64(elapsed * 1000)
            let mine = file.sessions.count == 1 ? samples : samples.filter { ($0.time ?? start) >= start && ($0.time ?? start) <= end }
            return ImportedWorkout(
                sport: session.sportName, start: start, elapsedSeconds: elapsed, movingSeconds: session.timer ?? elapsed,
                distance: session.distance ?? mine.last(where: { $0.distance != nil })?.distance ?? pathLength([mine]),
                averageHeartRate: session.averageHeartRate ?? average(mine.compactMap(\.heartRate)),
                maxHeartRate: session.maxHeartRate ?? mine.compactMap(\.heartRate).max(),
                elevationGain: session.ascent ?? climb([mine]), samples: mine)
        }
    }

    static func fromGPX(_ track: GPXDecoder.Track) throws(ImportError) -> ImportedWorkout {
        var workout = try fromSamples(track.segments.flatMap { $0 }, sport: sportName(track.type))
        workout.distance = pathLength(track.segments)
        workout.movingSeconds = movingTime(track.segments)
        workout.elevationGain = climb(track.segments)
        return workout
    }

    static func fromTCX(_ activity: TCXDecoder.Activity) throws(ImportError) -> ImportedWorkout {
        var workout = try fromSamples(activity.points, sport: sportName(activity.sport))
        if let start = activity.laps.first?.start { workout.start = min(workout.start, start) }
        let lapDistances = activity.laps.compactMap(\.distance)
        if !lapDistances.isEmpty {
            workout.distance = lapDistances.reduce(0, +)
        } else if let last = activity.points.last(where: { $0.distance != nil })?.distance {
            workout.distance = last
        }
        let lapTimes = activity.laps.compactMap(\.totalSeconds)
        if !lapTimes.isEmpty { workout.movingSeconds = lapTimes.reduce(0, +) }
        return workout
    }

    /// Totals from samples alone; needs two timed samples.
    static func fromSamples(_ samples: [TrackPoint], sport: String) throws(ImportError) -> ImportedWorkout {
        let times = samples.compactMap(\.time)
        guard let first = times.min(), let last = times.max(), last > first else {
            throw ImportError("no_workout", "the file has no track with two or more timed samples: nothing to import")
        }
        let heartRates = samples.compactMap(\.heartRate)
        return ImportedWorkout(
            sport: sport, start: first, elapsedSeconds: Double(last - first) / 1000, movingSeconds: movingTime([samples]),
            distance: pathLength([samples]), averageHeartRate: average(heartRates), maxHeartRate: heartRates.max(),
            elevationGain: climb([samples]), samples: samples)
    }

    /// The haversine length of each segment, summed (no distance between segments).
    static func pathLength(_ segments: [[TrackPoint]]) -> Double {
        segments.reduce(0) { total, segment in
            zip(segment, segment.dropFirst()).reduce(total) { $0 + ($1.0.distance(to: $1.1) ?? 0) }
        }
    }

    /// Time between consecutive samples that moved at `movingSpeed` or more, with no gap longer
    /// than `longestMovingGap`.
    static func movingTime(_ segments: [[TrackPoint]]) -> Double {
        var total = 0.0
        for segment in segments {
            for (a, b) in zip(segment, segment.dropFirst()) {
                guard let t1 = a.time, let t2 = b.time, t2 > t1 else { continue }
                let seconds = Double(t2 - t1) / 1000
                let metres = a.distance(to: b) ?? (b.distance.flatMap { d in a.distance.map { d - $0 } } ?? 0)
                if seconds <= longestMovingGap, metres / seconds >= movingSpeed { total += seconds }
            }
        }
        return total
    }

    /// Every rise between consecutive samples, summed.
    static func climb(_ segments: [[TrackPoint]]) -> Double {
        segments.reduce(0) { total, segment in
            zip(segment, segment.dropFirst()).reduce(total) { sum, pair in
                guard let a = pair.0.altitude, let b = pair.1.altitude, b > a else { return sum }
                return sum + (b - a)
            }
        }
    }

    static func average(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// A sport as files name it (GPX `type`, TCX `Sport`), as the club names it.
    static func sportName(_ raw: String?) -> String {
        switch raw?.lowercased() {
        case "running", "run", "trail_running", "treadmill_running": return "run"
        case "biking", "cycling", "ride", "road_biking", "mountain_biking": return "ride"
        case "walking", "walk": return "walk"
        case "hiking", "hike": return "hike"
        case "swimming", "swim": return "swim"
        default: return "other"
        }
    }
}
