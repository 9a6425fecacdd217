import ClubKernel
import ClubRuntime
import Events
import Logging
import Metrics
import Telemetry
import Users

/// The User subsystem's telemetry history beside the window stages: raw samples and minute
/// rollups recorded as telemetry is processed, sealed into a batch at every snapshot and saved
/// in the snapshot's transaction; retention deletes old rows in small steps.
actor HistoryStage {
    private var recorder: HistoryRecorder
    private let store: any HistoryStore
    private let logger: Logger
    private let deletedCounter = Counter(label: "clubd_history_deleted_total")
    private let droppedCounter = Counter(label: "clubd_history_dropped_total")
    private let bufferedGauge = Gauge(label: "clubd_history_buffered_bytes")
    private var reportedDropped = 0
    private var retentionError: String?

    /// The part of the snapshot holding the history's meta (before entries: its whole state).
    static let snapshotPart = "history"
    /// The keyed part holding the own minute operator's users, one entry each.
    static let minutesPart = "history.minutes"

    /// The minute operator's entries not yet confirmed stored (see ``EntryLedger``).
    private var ledger: EntryLedger

    /// - Parameter sharedMinutes: a pipeline has the history's window spec: its windows are the
    ///   minutes (``handle(_:windows:now:)``), not a second operator's.
    init(settings: HistorySettings, sharedMinutes: Bool, snapshot: StateSnapshot?, store: any HistoryStore, logger: Logger) {
        self.store = store
        self.logger = logger
        if let part = snapshot?.parts[Self.snapshotPart] {
            do {
                let isMeta = HistoryRecorder.isMeta(part)
                recorder = try HistoryRecorder(
                    settings: settings, sharedMinutes: sharedMinutes, snapshot: part,
                    minuteEntries: isMeta ? snapshot?.storedEntries(of: Self.minutesPart) ?? [] : [])
                ledger = EntryLedger(stored: isMeta)
                return
            } catch {
                logger.warning("history snapshot unreadable; minutes start afresh", metadata: ["error": "\(error)"])
            }
        }
        recorder = HistoryRecorder(settings: settings, sharedMinutes: sharedMinutes)
        ledger = EntryLedger(stored: false)
    }

    /// Records samples that arrived at `now` (nil: a replay) with the recorder's own minutes; an
    /// empty batch is a clock tick.
    func handle(_ samples: [TelemetrySample], now: Int64?) {
        recorder.record(samples, now: now)
    }

    /// Records samples with the output the minute-spec pipeline produced for them.
    func handle(_ samples: [TelemetrySample], windows: WindowOutput, now: Int64?) {
        recorder.record(samples, windows: windows, now: now)
    }

    func shareMinutes(_ shared: Bool) {
        guard shared != recorder.sharesMinutes else { return }
        recorder.shareMinutes(shared)
        ledger = EntryLedger(stored: false)  // the next snapshot replaces the stored minutes
        logger.notice(shared ? "history minutes now come from a pipeline with their window spec" : "history minutes now have their own window operator")
    }

    /// What a snapshot saves of the history, captured on the loop.
    struct Captured: Sendable {
        /// Every sealed batch not yet confirmed.
        var batches: [HistoryBatch]
        var meta: [UInt8]
        /// The own minute operator's users changed since the last confirmed save (or all).
        var minutes: CapturedEntries
    }

    /// Seals what arrived since the last snapshot and takes the minute operator's changed users
    /// for snapshot `generation`: the batches and the state are saved together.
    func seal(generation: Int64) -> Captured {
        bufferedGauge.record(recorder.bufferedBytes)
        let batches = recorder.seal(now: Clock.nowMillis())
        if recorder.droppedSamples > reportedDropped {
            droppedCounter.increment(by: Int64(recorder.droppedSamples - reportedDropped))
            logger.error(
                "storage refused the history for too long: oldest raw samples dropped",
                metadata: ["dropped_samples": "\(recorder.droppedSamples - reportedDropped)"])
            reportedDropped = recorder.droppedSamples
        }
        let changed = recorder.takeChangedMinuteUsers()
        // Copied after the change flags are cleared: copy-on-write, kept only for `all`.
        let copy = recorder
        let minutes = ledger.capture(
            generation: generation, changed: changed, key: { $0 }, entry: copy.minuteEntry(of:), all: { copy.minuteEntries() })
        return Captured(batches: batches, meta: copy.meta(), minutes: minutes)
    }

    /// The snapshot holding batches up to `batch` committed, snapshot `generation` with them.
    func confirm(through batch: Int64?, snapshot generation: Int64) {
        if let batch { recorder.confirm(through: batch) }
        ledger.confirm(through: generation)
    }

    func overlay(of user: String, open: [WindowResult]) -> HistoryOverlay { recorder.overlay(of: user, open: open) }

    var settings: HistorySettings { recorder.settings }

    /// Deletes what the retentions no longer keep, `step` rows per resolution per transaction
    /// with a pause between, so no write lock is held for long; returns when nothing is left.
    func enforceRetention(step: Int = 500) async {
        let s = recorder.settings
        while !Task.isCancelled {
            let now = Clock.nowMillis()
            do {
                let deleted = try await store.deleteHistory(
                    samplesBefore: s.samplesFor.map { now - $0 }, minutesBefore: s.minutesFor.map { now - $0 },
                    daysBefore: s.daysFor.map { now - $0 }, limit: step)
                deletedCounter.increment(by: Int64(deleted))
                if retentionError != nil {
                    logger.notice("history retention recovered")
                    retentionError = nil
                }
                if deleted < step { return }
                try? await Task.sleep(for: .milliseconds(5))
            } catch {
                if retentionError == nil {
                    logger.error("history retention cannot delete; retried at the next interval", metadata: ["error": "\(error)"])
                }
                retentionError = "\(error)"
                return
            }
        }
    }
}
