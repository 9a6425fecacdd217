import Events

/// Keyed event-time windows over telemetry: the state machine of a window stage.
///
/// Per user, the watermark is the newer of the user's own newest event time and the newest
/// event time of all users minus the idle timeout, less the out-of-orderness allowance.
/// A window emits its final result when the watermark passes its end, stays correctable for
/// the allowed lateness (corrections are emitted as updates), then is dropped; a sample for
/// a dropped window is late. Everything depends on event time only, so the same input
/// gives the same output, across restarts too.
public struct WindowOperator: Sendable {
    public let spec: WindowSpec
    var users: [String: UserWindows] = [:]
    var globalMaxTs: Int64 = UserWindows.never
    var timers = TimerHeap()

    public init(spec: WindowSpec) {
        self.spec = spec
    }

    /// Users with state.
    public var userCount: Int { users.count }

    /// Windows held open (or correctable) right now.
    public var openWindowCount: Int { users.values.reduce(0) { $0 + $1.windows.count } }

    /// Processes a batch of samples in order.
    public mutating func process(_ samples: [TelemetrySample]) -> WindowOutput {
        var output = WindowOutput()
        // Users with a correction to emit, in first-correction order, so that output order
        // never depends on hashing.
        var corrected: [String] = []
        var correctedSet: Set<String> = []
        for (index, sample) in samples.enumerated() {
            if process(sample, at: index, into: &output), correctedSet.insert(sample.user).inserted { corrected.append(sample.user) }
        }
        for user in corrected { emitUpdates(of: user, into: &output) }
        fireIdleUsers(into: &output)
        return output
    }

    /// Processes one sample.
    /// - Returns: whether an emitted window of the user now waits for an update.
    private mutating func process(_ sample: TelemetrySample, at sampleIndex: Int, into output: inout WindowOutput) -> Bool {
        let spec = self.spec
        globalMaxTs = max(globalMaxTs, sample.ts)
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
        let watermark = watermark(state)
        let horizon = watermark - spec.allowedLateness
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
        state.assign(sample, contribution: inserted.point.contribution, spec: spec)
        for change in inserted.corrections { state.correct(at: change.ts, by: change.delta, spec: spec) }
        state.maxTs = max(state.maxTs, sample.ts)
        if self.watermark(state) >= state.earliestDue {
            advance(&state, user: sample.user, into: &output)
        } else if state.earliestDue < state.scheduledAt ?? .max {
            schedule(&state, user: sample.user)
        }
        return state.windows.contains(where: \.changedSinceEmit)
    }

    /// The watermark of one user.
    func watermark(_ state: UserWindows) -> Int64 {
        max(state.maxTs, globalMaxTs - spec.idleTimeout) - spec.outOfOrderness
    }

    /// Emits windows the watermark passed, drops those past the lateness, forgets idle
    /// device sessions, and schedules the user's next due time.
    mutating func advance(_ state: inout UserWindows, user: String, into output: inout WindowOutput) {
        let watermark = watermark(state)
        let horizon = watermark - spec.allowedLateness
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
        schedule(&state, user: user)
    }

    /// The earliest time at which the idle rule must act on this user: a window to emit or
    /// drop, or an idle device session to forget.
    func nextDue(_ state: UserWindows) -> Int64? {
        var due = Int64.max
        for window in state.windows { due = min(due, window.emitted ? window.end + spec.allowedLateness : window.end) }
        for series in state.series.values where series.points.isEmpty {
            due = min(due, series.lastSeen + spec.sessionTimeout)
        }
        return due == Int64.max ? nil : due
    }

    /// Puts the user in the timer heap at its next due time, unless an earlier entry is there.
    mutating func schedule(_ state: inout UserWindows, user: String) {
        let due = nextDue(state)
        state.earliestDue = due ?? .max
        guard let due else { return }
        if state.scheduledAt.map({ due < $0 }) ?? true {
            state.scheduledAt = due
            timers.push(due, user)
        }
    }

    /// Advances users whose due time the all-users watermark has reached. An entry that
    /// became early (a session grew) is pushed again at the real due time, so that users
    /// are advanced at the same moments whatever the history of the heap.
    private mutating func fireIdleUsers(into output: inout WindowOutput) {
        let idleWatermark = globalMaxTs - spec.idleTimeout - spec.outOfOrderness
        while let next = timers.minimum, next.due <= idleWatermark {
            _ = timers.popMinimum()
            guard var state = users[next.user], state.scheduledAt == next.due else { continue }
            state.scheduledAt = nil
            if let due = nextDue(state), due != next.due {
                schedule(&state, user: next.user)
                users[next.user] = state
                continue
            }
            advance(&state, user: next.user, into: &output)
            users[next.user] = state.isEmpty ? nil : state
        }
    }

    private mutating func emitUpdates(of user: String, into output: inout WindowOutput) {
        guard var state = users[user], state.windows.contains(where: \.changedSinceEmit) else { return }
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
