import ClubKernel
import Events

/// Decodes Garmin Training Center (TCX) activities: laps with their totals, and trackpoints
/// with time, position, altitude, distance, heart rate, cadence, and speed and power from
/// the ActivityExtension.
public enum TCXDecoder {
    public static let maxFileBytes = 64 << 20

    public struct Lap: Sendable, Equatable {
        public var start: Int64?
        public var totalSeconds: Double?
        public var distance: Double?
    }

    public struct Activity: Sendable, Equatable {
        public var sport: String?
        public var laps: [Lap] = []
        public var points: [TrackPoint] = []
    }

    /// - Throws: ``ImportError`` for malformed XML or invalid values.
    public static func decode(_ bytes: [UInt8]) throws(ImportError) -> Activity {
        guard bytes.count <= maxFileBytes else {
            throw ImportError("file_too_large", "the file has \(bytes.count) bytes; at most \(maxFileBytes) are accepted")
        }
        var activity = Activity()
        var path: [String] = []
        var point: TrackPoint?
        var sawRoot = false
        var activities = 0
        try XMLScanner.scan(bytes) { event throws(ImportError) in
            switch event {
            case .start(let name, let attributes):
                path.append(name)
                switch name {
                case "TrainingCenterDatabase": sawRoot = true
                case "Activity":
                    activities += 1
                    if activities == 1 { activity.sport = attributes["Sport"] }
                case "Lap" where activities == 1:
                    activity.laps.append(Lap(start: attributes["StartTime"].flatMap(EventTime.parseFileTime)))
                case "Trackpoint" where activities == 1: point = TrackPoint()
                default: break
                }
            case .end(let name, let text):
                path.removeLast()
                guard activities == 1 else { return }
                let parent = path.last
                switch (name, parent) {
                case ("Trackpoint", _):
                    if let finished = point { activity.points.append(finished) }
                    point = nil
                case ("TotalTimeSeconds", "Lap"): activity.laps[activity.laps.count - 1].totalSeconds = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("DistanceMeters", "Lap"): activity.laps[activity.laps.count - 1].distance = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("Time", "Trackpoint"):
                    guard let ms = EventTime.parseFileTime(text) else { throw ImportError("tcx_invalid", "a trackpoint's time '\(text.prefix(40))' is not RFC 3339") }
                    point?.time = ms
                case ("LatitudeDegrees", _): point?.latitude = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("LongitudeDegrees", _): point?.longitude = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("AltitudeMeters", "Trackpoint"): point?.altitude = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("DistanceMeters", "Trackpoint"): point?.distance = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("Value", "HeartRateBpm") where point != nil: point?.heartRate = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("Cadence", "Trackpoint"): point?.cadence = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("Speed", _) where point != nil: point?.speed = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                case ("Watts", _) where point != nil: point?.power = try XMLScanner.number(text, in: name, code: "tcx_invalid")
                default: break
                }
            }
        }
        guard sawRoot else { throw ImportError("tcx_invalid", "the root element is not <TrainingCenterDatabase>") }
        return activity
    }
}
