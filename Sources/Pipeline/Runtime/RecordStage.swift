import ClubKernel
import Events
import Foundation
import JSON
import Telemetry

/// Watches telemetry for personal records (the fastest 1 km, 5 km, 10 km … of a device
/// session) and raises each as a `record.personal` activity event when the session ends.
actor RecordStage {
    private var tracker: EffortTracker
    /// The sessions' and the bests' entries not yet confirmed stored (see ``EntryLedger``).
    private var sessionsLedger: EntryLedger
    private var bestsLedger: EntryLedger

    /// The snapshot parts: the tracker's meta (or, before incremental snapshots, its whole
    /// state), and the keyed parts of its sessions and of its users' bests.
    static let part = "records"
    static let sessionsPart = "records.sessions"
    static let bestsPart = "records.bests"

    init(distances: [Double], idleMillis: Int64, snapshot: StateSnapshot?) throws {
        if let meta = snapshot?.parts[Self.part], EffortTracker.isMeta(meta) {
            tracker = try EffortTracker(
                meta: meta, sessions: (snapshot?.entries[Self.sessionsPart]?.changes ?? []).lazy.compactMap(\.entry),
                bests: (snapshot?.entries[Self.bestsPart]?.changes ?? []).lazy.compactMap { key, entry in entry.map { (key, $0) } })
            sessionsLedger = EntryLedger(stored: true)
            bestsLedger = EntryLedger(stored: true)
        } else {
            tracker = try Self.tracker(distances: distances, idleMillis: idleMillis, snapshot: snapshot?.parts[Self.part])
            sessionsLedger = EntryLedger(stored: false)
            bestsLedger = EntryLedger(stored: false)
        }
        tracker.idleMillis = idleMillis
    }

    /// A new tracker, or one restored from the whole-state snapshot of an earlier version.
    private static func tracker(distances: [Double], idleMillis: Int64, snapshot: [UInt8]?) throws -> EffortTracker {
        if let snapshot, snapshot.first == UInt8(ascii: "{") {
            return try JSONDecoder().decode(EffortTracker.self, from: Data(snapshot))  // written before 2026-11-27
        } else if let snapshot {
            return try EffortTracker(snapshot: snapshot)
        }
        return EffortTracker(distances: distances, idleMillis: idleMillis)
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

    /// What a snapshot takes of the tracker.
    enum SnapshotCapture: Sendable {
        /// Every entry, encoded off the loop from the copy-on-write tracker.
        case full(EffortTracker)
        /// The meta, and the entries changed since the last confirmed save (nil: deleted).
        case changes(meta: [UInt8], sessions: [(key: String, entry: [UInt8]?)], bests: [(key: String, entry: [UInt8]?)])
    }

    /// Takes the tracker's part of snapshot `generation`: on the loop, so it costs what changed.
    func capture(generation: Int64) -> SnapshotCapture {
        let changed = tracker.takeChanges()
        let full = sessionsLedger.beginCapture(generation: generation)
        guard !bestsLedger.beginCapture(generation: generation), !full else { return .full(tracker) }
        for key in changed.sessions { sessionsLedger.note(key, tracker.sessionEntry(key), generation: generation) }
        for user in changed.bests { bestsLedger.note(user, tracker.bestsEntry(user), generation: generation) }
        return .changes(meta: tracker.meta(), sessions: sessionsLedger.changes, bests: bestsLedger.changes)
    }

    /// Snapshot `generation` (and every one before it) is stored.
    func confirmSaved(through generation: Int64) {
        sessionsLedger.confirm(through: generation)
        bestsLedger.confirm(through: generation)
    }
}
