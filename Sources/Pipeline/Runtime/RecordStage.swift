import ClubKernel
import Events
import Foundation
import JSON
import Telemetry

/// Watches telemetry for personal records (the fastest 1 km, 5 km, 10 km … of a device
/// session) and raises each as a `record.personal` activity event when the session ends.
actor RecordStage {
    private var tracker: EffortTracker

    init(distances: [Double], idleMillis: Int64, snapshot: [UInt8]?) throws {
        if let snapshot, snapshot.first == UInt8(ascii: "{") {
            tracker = try JSONDecoder().decode(EffortTracker.self, from: Data(snapshot))  // written before 2026-11-27
        } else if let snapshot {
            tracker = try EffortTracker(snapshot: snapshot)
        } else {
            tracker = EffortTracker(distances: distances, idleMillis: idleMillis)
        }
        tracker.idleMillis = idleMillis
    }

    /// The records set by sessions that ended, as activity log entries. Their ids follow
    /// from the session and the distance, so a replay raises duplicates, not new records.
    /// Samples that arrived at `now` (nil: a replay); an empty batch is a clock tick.
    func handle(_ samples: [TelemetrySample], now: Int64?) -> [ActivityEvent] {
        tracker.process(samples, now: now).map { record in
            let id = "pr:\(record.user):\(record.device):\(record.session):\(Int(record.distance))"
            var w = JSONWriter()
            w.member("user", record.user)
            w.member("device", record.device)
            w.member("session", record.session)
            w.member("distance_m", record.distance)
            w.member("time_s", Double(record.millis) / 1000)
            w.key("previous_s")
            if let previous = record.previousMillis { w.value(Double(previous) / 1000) } else { w.null() }
            return .raised("record.personal", id: id, user: record.user, at: record.endedAt, members: w.bytes)
        }
    }

    /// The tracker as it is now: a copy-on-write value, encoded by the caller.
    var state: EffortTracker { tracker }
}
