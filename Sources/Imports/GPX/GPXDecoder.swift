import ClubKernel
import Events

/// Decodes GPX 1.0 and 1.1 tracks: track segments of points with time, elevation and the
/// common heart-rate / cadence / power extensions (Garmin's TrackPointExtension and
/// similar `hr`, `cad`, `power` elements). Routes and waypoints are not workouts and are
/// ignored.
public enum GPXDecoder {
    public static let maxFileBytes = 64 << 20

    /// A decoded GPX file: its track segments and the first track's `type`.
    public struct Track: Sendable, Equatable {
        public var segments: [[TrackPoint]] = []
        public var type: String?

        public var pointCount: Int { segments.reduce(0) { $0 + $1.count } }
    }

    /// - Throws: ``ImportError`` for malformed XML or an invalid point.
    public static func decode(_ bytes: [UInt8]) throws(ImportError) -> Track {
        guard bytes.count <= maxFileBytes else {
            throw ImportError("file_too_large", "the file has \(bytes.count) bytes; at most \(maxFileBytes) are accepted")
        }
        var track = Track()
        var point: TrackPoint?
        var sawGPX = false
        var inTrack = false
        try XMLScanner.scan(bytes) { event throws(ImportError) in
            switch event {
            case .start(let name, let attributes):
                switch name {
                case "gpx": sawGPX = true
                case "trk": inTrack = true
                case "trkseg": track.segments.append([])
                case "trkpt":
                    guard let lat = attributes["lat"].flatMap(Double.init), let lon = attributes["lon"].flatMap(Double.init),
                        (-90...90).contains(lat), (-180...180).contains(lon)
                    else {
                        throw ImportError(
                            "gpx_invalid", "a track point has no valid lat/lon ('\(attributes["lat"] ?? "")', '\(attributes["lon"] ?? "")')")
                    }
                    point = TrackPoint()
                    point?.latitude = lat
                    point?.longitude = lon
                default: break
                }
            case .end(let name, let text):
                guard point != nil || name == "trkpt" || name == "type" || name == "trk" else { return }
                switch name {
                case "trkpt":
                    if let finished = point {
                        if track.segments.isEmpty { track.segments.append([]) }
                        track.segments[track.segments.count - 1].append(finished)
                    }
                    point = nil
                case "trk": inTrack = false
                case "type": if inTrack, point == nil, track.type == nil { track.type = text }
                case "ele": point?.altitude = try XMLScanner.number(text, in: name, code: "gpx_invalid")
                case "time":
                    guard let ms = EventTime.parseFileTime(text) else { throw ImportError("gpx_invalid", "a track point's time '\(text.prefix(40))' is not RFC 3339") }
                    point?.time = ms
                case "hr", "heartrate": point?.heartRate = try XMLScanner.number(text, in: name, code: "gpx_invalid")
                case "cad", "cadence": point?.cadence = try XMLScanner.number(text, in: name, code: "gpx_invalid")
                case "power", "PowerInWatts": point?.power = try XMLScanner.number(text, in: name, code: "gpx_invalid")
                case "speed": point?.speed = try XMLScanner.number(text, in: name, code: "gpx_invalid")
                default: break
                }
            }
        }
        guard sawGPX else { throw ImportError("gpx_invalid", "the root element is not <gpx>") }
        return track
    }
}
