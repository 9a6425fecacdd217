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
                meta: meta, sessions: snapshot?.storedEntries(of: Self.sessionsPart).lazy.map(\.entry) ?? [],
                bests: snapshot?.storedEntries(of: Self.bestsPart) ?? [])
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

    /// What a snapshot takes of the tracker: its meta, and its two keyed parts.
    struct Captured: Sendable {
        var meta: [UInt8]
        var sessions: CapturedEntries
        var bests: CapturedEntries
    }

    /// Takes the tracker's part of snapshot `generation`: on the loop, what changed.
    func capture(generation: Int64) -> Captured {
        let changed = tracker.takeChanges()
        // Copied after the change flags are cleared (see ``WindowStage/capture(generation:)``).
        let tracker = self.tracker
        return Captured(
            meta: tracker.meta(),
            sessions: sessionsLedger.capture(
                generation: generation, changed: changed.sessions, key: \.entryKey, entry: tracker.sessionEntry, all: { tracker.sessionEntries() }),
            bests: bestsLedger.capture(
                generation: generation, changed: changed.bests, key: { $0 }, entry: tracker.bestsEntry, all: { tracker.bestsEntries() }))
    }

    /// Snapshot `generation` (and every one before it) is stored.
    func confirmSaved(through generation: Int64) {
        sessionsLedger.confirm(through: generation)
        bestsLedger.confirm(through: generation)
    }
}
