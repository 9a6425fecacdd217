import ClubKernel
import ClubProtocol
import ClubRuntime
import Events
import JSON
import Telemetry

/// The actor running one pipeline's window operator.
actor WindowStage {
    let definition: PipelineDefinition
    private var windows: WindowOperator

    /// What one batch produced, ready to publish and record.
    struct Output: Sendable {
        var messages: [Publisher.Message] = []
        var records: [WindowRecord] = []
        /// Final window results raised as activity events (see ``PipelineDefinition/activityType``).
        var activity: [ActivityEvent] = []
        var late = 0
        var duplicates = 0
        /// The operator's own output (results and refusals), for the history when this stage
        /// provides its minutes.
        var windows = WindowOutput()
    }

    /// The users' entries not yet confirmed stored (see ``EntryLedger``).
    private var ledger: EntryLedger

    /// A new stage, or one restored from a whole-state snapshot of an earlier version.
    init(definition: PipelineDefinition, snapshot: [UInt8]? = nil) throws {
        self.definition = definition
        if let snapshot {
            windows = try WindowOperator(spec: definition.window, snapshot: snapshot)
        } else {
            windows = WindowOperator(spec: definition.window)
        }
        ledger = EntryLedger(stored: false)
    }

    /// A stage restored from the entries of its incremental snapshots.
    init(definition: PipelineDefinition, entries: [(key: String, entry: [UInt8])]) throws {
        self.definition = definition
        windows = try WindowOperator(spec: definition.window, entries: entries)
        ledger = EntryLedger(stored: true)
    }

    /// Takes this stage's users in snapshot `generation`: on the loop, what changed.
    func capture(generation: Int64) -> CapturedEntries {
        let changed = windows.takeChangedUsers()
        // Copied after the change flags are cleared: a copy-on-write copy, which costs nothing
        // unless `all` keeps it while the loop goes on changing the operator.
        let windows = self.windows
        return ledger.capture(generation: generation, changed: changed, key: { $0 }, entry: windows.entry(of:), all: { windows.entries() })
    }

    /// Snapshot `generation` (and every one before it) is stored.
    func confirmSaved(through generation: Int64) { ledger.confirm(through: generation) }

    /// Windows samples that arrived at `now` (nil: a replay); an empty batch is a clock tick
    /// that closes the windows of idle users.
    func handle(_ samples: [TelemetrySample], now: Int64?) -> Output {
        let result = windows.process(samples, now: now)
        var output = Output(late: result.late.count, duplicates: result.duplicates, windows: result)
        for window in result.results {
            let members = window.jsonMembers(pipeline: definition.name, kind: definition.window.kind.name)
            output.messages.append(Publisher.Message(topic: "\(definition.topicPrefix).\(window.user)", members: members))
            output.records.append(
                WindowRecord(pipeline: definition.name, user: window.user, start: window.start, end: window.end, result: members))
            if let type = definition.activityType, !window.isUpdate {
                output.activity.append(activityEvent(type, window, members: members))
            }
        }
        for late in result.late {
            let payload = LatePayload(
                message: "the windows of this sample closed for good at \(late.horizon) (allowed lateness passed)",
                pipeline: definition.name, user: late.user, device: late.device, session: late.session, ts: Int(late.ts),
                horizon: Int(late.horizon))
            output.messages.append(Publisher.Message(topic: "late", members: payload.members))
        }
        return output
    }

    /// A final window result as an activity event. Its id is derived from the window, so the
    /// same window raised again (a replay after a crash) is a duplicate in the log.
    private func activityEvent(_ type: String, _ window: WindowResult, members: [UInt8]) -> ActivityEvent {
        .raised(type, id: "\(definition.name):\(window.user):\(window.start)", user: window.user, at: window.end, members: members)
    }

    /// Open and correctable windows of `user`, shaped like recorded results.
    func currentWindows(of user: String) -> [WindowRecord] {
        windows.currentWindows(of: user).map {
            WindowRecord(
                pipeline: definition.name, user: user, start: $0.start, end: $0.end,
                result: $0.jsonMembers(pipeline: definition.name, kind: definition.window.kind.name))
        }
    }

    /// Open and correctable windows of `user` with their aggregates.
    func openResults(of user: String) -> [WindowResult] { windows.currentWindows(of: user) }

    var stateSize: (users: Int, windows: Int) { (windows.userCount, windows.openWindowCount) }
}

extension WindowResult {
    /// The members of a `window.<user>` payload (without braces).
    func jsonMembers(pipeline: String, kind: String) -> [UInt8] {
        let a = aggregate
        return WindowPayload(
            pipeline: pipeline, window: kind, user: user, start: Int(start), end: Int(end), update: isUpdate, open: isOpen, sport: a.sport,
            samples: a.samples, distance: a.distance, movingTime: Double(a.movingMillis) / 1000, averageHeartRate: a.averageHeartRate,
            maxHeartRate: a.heartRateCount > 0 ? a.heartRateMax : nil, averageSpeed: a.averageSpeed, elevationGain: a.elevationGain,
            averageCadence: a.averageCadence, averagePower: a.averagePower, firstTs: Int(a.firstTs), lastTs: Int(a.lastTs)
        ).members
    }
}
