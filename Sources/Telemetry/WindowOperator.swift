import Events

/// Keyed event-time windows over telemetry: the state machine of a window stage.
///
/// **Event time is per user**: a user's watermark is that user's own newest event time less
/// the out-of-orderness allowance, so one member's live phone never makes another member's
/// late-syncing watch late. A window emits its final result when its user's watermark passes
/// its end, stays correctable for the allowed lateness (corrections are emitted as updates),
/// then is dropped; a sample for a dropped window is late.
///
/// A user who stops sending has their windows closed by the **daemon's clock**: once nothing
/// of theirs arrived for `idleTimeout`, every open window is emitted and dropped, and later
/// samples for those windows are late (judged per user). The user's state is forgotten
/// `sessionTimeout` after their last arrival. Every call takes `now`; with the same input and
/// the same `now`s the output is the same, across restarts too (`now: nil` never idles:
/// a replay of the journal).
public struct WindowOperator: Sendable {
    public let spec: WindowSpec
    var users: [String: UserWindows] = [:]
    /// (due on the daemon's clock, user): when to check a user for idleness or forgetting.
    var idleTimers = TimerHeap()
    /// Users whose state changed (or was forgotten) since ``takeChangedUsers()``, each once
    /// while its state is marked ``UserWindows/changed``: what an incremental snapshot writes.
    var changedUsers: [String] = []

    public init(spec: WindowSpec) {
        self.spec = spec
    }

    /// Users with state.
    public var userCount: Int { users.count }

    /// Windows held open (or correctable) right now.
    public var openWindowCount: Int { users.values.reduce(0) { $0 + $1.windows.count } }

    /// Processes a batch of samples in order, which arrived at `now` (daemon clock, epoch ms),
    /// then closes the windows of users idle at `now`. With `now` nil (replaying what arrived
    /// before a restart) no user idles and arrivals are not timed.
    public mutating func process(_ samples: [TelemetrySample], now: Int64?) -> WindowOutput {
        var output = WindowOutput()
        // Users with a correction to emit, in first-correction order, so that output order
        // never depends on hashing.
        var corrected: [String] = []
        var correctedSet: Set<String> = []
        for (index, sample) in samples.enumerated() {
            if process(sample, at: index, now: now, into: &output), correctedSet.insert(sample.user).inserted {
                corrected.append(sample.user)
            }
        }
        for user in corrected { emitUpdates(of: user, into: &output) }
        if let now { fireIdleUsers(now: now, into: &output) }
        return output
    }

    /// Closes the windows of users idle at `now` (the daemon's clock), without new samples.
    public mutating func tick(now: Int64) -> WindowOutput {
        var output = WindowOutput()
        fireIdleUsers(now: now, into: &output)
        return output
    }

    /// Times the user's last arrival at `now`; a user not yet waiting in the idle heap
    /// joins it. Without a clock (a replay) the arrival is unknown: the first tick starts the
    /// user's idle time afresh.
    private mutating func noteArrival(_ state: inout UserWindows, of user: String, at now: Int64?) {
        state.lastArrival = now ?? UserWindows.never
        let due = now.map { $0 + spec.idleTimeout } ?? .min
        if state.idleAt.map({ due < $0 }) ?? true {
            state.idleAt = due
            idleTimers.push(due, user)
        }
    }

    /// Processes one sample, which arrived at `now` (a late or repeated one too: its user is not idle).
    /// - Returns: whether an emitted window of the user now waits for an update.
    private mutating func process(_ sample: TelemetrySample, at sampleIndex: Int, now: Int64?, into output: inout WindowOutput) -> Bool {
        let spec = self.spec
        // The state is swapped out of the dictionary while it changes, so that its arrays
        // stay uniquely referenced and are mutated in place.
        let index: [String: UserWindows].Index
        if let existing = users.index(forKey: sample.user) {
            index = existing
        } else {
            users[sample.user] = UserWindows()
            index = users.index(forKey: sample.user)!
        }
        var state = UserWindows()
        swap(&state, &users.values[index])
        defer { swap(&state, &users.values[index]) }
        markChanged(&state, sample.user)
        noteArrival(&state, of: sample.user, at: now)
        let horizon = horizon(state)
        if spec.latestEnd(of: sample.ts) <= horizon {
            output.late.append(
                LateSample(user: sample.user, device: sample.device, session: sample.session, ts: sample.ts, horizon: horizon))
            output.refused.append(sampleIndex)
            return false
        }
        let key = SeriesKey(device: sample.device, session: sample.session)
        guard let inserted = state.series[key, default: DeviceSeries()].insert(sample, spec: spec) else {
            output.duplicates += 1
            output.refused.append(sampleIndex)
            return false
        }
        state.assign(sample, contribution: inserted.contribution, spec: spec)
        for change in inserted.corrections { state.correct(at: change.ts, by: change.delta, spec: spec) }
        state.maxTs = max(state.maxTs, sample.ts)
        if watermark(state) >= state.earliestDue {
            advance(&state, user: sample.user, into: &output)
        }
        return state.windows.contains(where: \.changedSinceEmit)
    }

    /// Notes that `user`'s state changes (once until the next ``takeChangedUsers()``).
    @inline(__always)
    private mutating func markChanged(_ state: inout UserWindows, _ user: String) {
        if !state.changed {
            state.changed = true
            changedUsers.append(user)
        }
    }

    /// The watermark of one user: their own event time.
    func watermark(_ state: UserWindows) -> Int64 {
        state.maxTs - spec.outOfOrderness
    }

    /// Windows ending at or before this are final for good: past the lateness of the user's
    /// watermark, or closed because the user was idle.
    func horizon(_ state: UserWindows) -> Int64 {
        max(watermark(state) - spec.allowedLateness, state.closedThrough)
    }

    /// Emits windows the watermark passed, drops those past the lateness, forgets idle
    /// device sessions, and notes the user's next due time.
    mutating func advance(_ state: inout UserWindows, user: String, into output: inout WindowOutput) {
        let watermark = watermark(state)
        let horizon = horizon(state)
        var kept: [OpenWindow] = []
        kept.reserveCapacity(state.windows.count)
        for var window in state.windows {
            if !window.emitted && window.end <= watermark {
                output.results.append(result(user, window, isUpdate: false))
                window.emitted = true
                window.changedSinceEmit = false
            }
            if window.end <= horizon {
                if window.changedSinceEmit { output.results.append(result(user, window, isUpdate: true)) }
                continue
            }
            kept.append(window)
        }
        state.windows = kept
        for key in Array(state.series.keys) {
            state.series[key]!.prune(horizon: horizon, spec: spec)
            let series = state.series[key]!
            if series.points.isEmpty && series.lastSeen + spec.sessionTimeout <= watermark {
                state.series[key] = nil
            }
        }
        state.earliestDue = nextDue(state) ?? .max
    }

    /// The earliest watermark at which this user's state must change: a window to emit or
    /// drop, or an idle device session to forget.
    func nextDue(_ state: UserWindows) -> Int64? {
        var due = Int64.max
        for window in state.windows { due = min(due, window.emitted ? window.end + spec.allowedLateness : window.end) }
        for series in state.series.values where series.points.isEmpty {
            due = min(due, series.lastSeen + spec.sessionTimeout)
        }
        return due == Int64.max ? nil : due
    }

    /// Acts on users whose idle check fell due at `now`: a user heard from since is checked
    /// again later; one idle for `idleTimeout` has every window emitted and dropped (and
    /// the lateness horizon moved past them); one idle for `sessionTimeout` is forgotten.
    /// Users closed by one call emit in the order of the instant they went idle, then of their
    /// ids: an order that depends on their state alone, not on the timers' history, so a
    /// restored operator emits exactly as an uninterrupted one.
    private mutating func fireIdleUsers(now: Int64, into output: inout WindowOutput) {
        var closed: [(idleAt: Int64, user: String, results: [WindowResult])] = []
        defer {
            closed.sort { ($0.idleAt, $0.user) < ($1.idleAt, $1.user) }
            for user in closed { output.results += user.results }
        }
        while let next = idleTimers.minimum, next.due <= now {
            _ = idleTimers.popMinimum()
            guard var state = users[next.user], state.idleAt == next.due else { continue }
            if state.lastArrival == UserWindows.never {  // restored without a clock
                state.lastArrival = now
                markChanged(&state, next.user)
            }
            let idleDue = state.lastArrival + spec.idleTimeout
            if idleDue > now {
                state.idleAt = idleDue
                idleTimers.push(idleDue, next.user)
                users[next.user] = state
                continue
            }
            markChanged(&state, next.user)
            var own = WindowOutput()
            close(&state, user: next.user, into: &own)
            if !own.results.isEmpty { closed.append((idleDue, next.user, own.results)) }
            let forgetAt = state.lastArrival + max(spec.sessionTimeout, spec.idleTimeout)
            if forgetAt <= now {
                users[next.user] = nil
                continue
            }
            state.idleAt = forgetAt
            idleTimers.push(forgetAt, next.user)
            users[next.user] = state
        }
    }

    /// Emits every window of an idle user (final, or the update it waits for) and drops them;
    /// their samples become the floors of the device sessions, so a session resumed later
    /// continues its counter.
    private mutating func close(_ state: inout UserWindows, user: String, into output: inout WindowOutput) {
        guard !state.windows.isEmpty || state.series.values.contains(where: { !$0.points.isEmpty }) else { return }
        for window in state.windows {
            if !window.emitted {
                output.results.append(result(user, window, isUpdate: false))
            } else if window.changedSinceEmit {
                output.results.append(result(user, window, isUpdate: true))
            }
            state.closedThrough = max(state.closedThrough, window.end)
        }
        state.windows = []
        for key in Array(state.series.keys) { state.series[key]!.prune(horizon: .max, spec: spec) }
        state.earliestDue = .max
    }

    private mutating func emitUpdates(of user: String, into output: inout WindowOutput) {
        guard var state = users[user], state.windows.contains(where: \.changedSinceEmit) else { return }
        markChanged(&state, user)
        for index in state.windows.indices where state.windows[index].changedSinceEmit {
            output.results.append(result(user, state.windows[index], isUpdate: true))
            state.windows[index].changedSinceEmit = false
        }
        users[user] = state
    }

    private func result(_ user: String, _ window: OpenWindow, isUpdate: Bool, isOpen: Bool = false) -> WindowResult {
        WindowResult(user: user, start: window.start, end: window.end, aggregate: window.aggregate, isUpdate: isUpdate, isOpen: isOpen)
    }

    /// The windows of `user` that have not been dropped yet, marked open when not emitted.
    public func currentWindows(of user: String) -> [WindowResult] {
        (users[user]?.windows ?? []).map { result(user, $0, isUpdate: false, isOpen: !$0.emitted) }
    }
}

extension WindowOperator {
    /// What the operator holds, counted: for memory measurements (`clubbench state-memory`).
    public struct Footprint: Sendable, CustomStringConvertible {
        public var users = 0
        public var windows = 0
        public var windowCapacity = 0
        public var series = 0
        public var points = 0
        public var pointCapacity = 0
        public var timers = 0

        public var description: String {
            "\(users) users, \(windows) windows (capacity \(windowCapacity)), \(series) device sessions, \(points) points (capacity \(pointCapacity)), \(timers) timers"
        }
    }

    public var footprint: Footprint {
        var f = Footprint()
        f.users = users.count
        f.timers = idleTimers.count
        for state in users.values {
            f.windows += state.windows.count
            f.windowCapacity += state.windows.capacity
            f.series += state.series.count
            for series in state.series.values {
                f.points += series.points.count
                f.pointCapacity += series.points.capacity
            }
        }
        return f
    }
}
