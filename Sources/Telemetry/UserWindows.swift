import Events

/// One open (or closed but still correctable) window of a user.
struct OpenWindow: Equatable {
    var start: Int64
    var end: Int64
    var aggregate = WindowAggregate()
    /// Its final result has been emitted.
    var emitted = false
    /// It changed after it was emitted: an update is due.
    var changedSinceEmit = false
}

/// Identity of a device session within a user.
struct SeriesKey: Hashable {
    let device: String
    let session: String
}

/// Everything the window operator keeps for one user.
struct UserWindows {
    /// Sorted by start.
    var windows: [OpenWindow] = []
    var series: [SeriesKey: DeviceSeries] = [:]
    /// Newest event time of this user.
    var maxTs: Int64 = never
    /// When the user's last sample arrived, on the daemon's clock (`never`: not known, as
    /// after a replay or a restore of an older snapshot).
    var lastArrival: Int64 = never
    /// The due time under which this user sits in the idle heap, if any.
    var idleAt: Int64?
    /// Windows ending at or before this were closed because the user was idle: a sample for
    /// them is late.
    var closedThrough: Int64 = never
    /// No window needs emitting or dropping, and no session forgetting, before this
    /// watermark: exact after the operator advances the user, lowered when a window opens.
    /// `min` (unknown) after a restore.
    var earliestDue = Int64.min
    /// Listed in ``WindowOperator/changedUsers`` since the last incremental snapshot.
    var changed = false

    static let never = Int64.min / 4

    /// Adds a new sample's own values and its contribution to the windows holding it,
    /// creating them.
    mutating func assign(_ sample: TelemetrySample, contribution: Contribution, spec: WindowSpec) {
        switch spec.kind {
        case .tumbling, .hopping:
            for start in spec.windowStarts(of: sample.ts) {
                let index = fixedWindowIndex(start: start, size: spec.fixedSize)
                windows[index].aggregate.add(sample)
                windows[index].aggregate.apply(contribution)
                markChanged(index)
            }
        case .session(let gap):
            let index = sessionIndex(joining: sample.ts, gap: gap)
            windows[index].aggregate.add(sample)
            windows[index].aggregate.apply(contribution)
            windows[index].end = max(windows[index].end, sample.ts + gap)
            markChanged(index)
        }
    }

    /// Applies a correction to every existing window holding `ts`.
    mutating func correct(at ts: Int64, by delta: Contribution, spec: WindowSpec) {
        for index in windows.indices where holds(windows[index], ts, spec) {
            windows[index].aggregate.apply(delta)
            markChanged(index)
        }
    }

    private func holds(_ window: OpenWindow, _ ts: Int64, _ spec: WindowSpec) -> Bool {
        switch spec.kind {
        case .tumbling, .hopping: window.start <= ts && ts < window.end
        case .session: window.start <= ts && ts <= window.aggregate.lastTs
        }
    }

    private mutating func markChanged(_ index: Int) {
        if windows[index].emitted { windows[index].changedSinceEmit = true }
    }

    private mutating func fixedWindowIndex(start: Int64, size: Int64) -> Int {
        var index = windows.count
        while index > 0, windows[index - 1].start >= start {
            if windows[index - 1].start == start { return index - 1 }
            index -= 1
        }
        windows.insert(OpenWindow(start: start, end: start + size), at: index)
        earliestDue = min(earliestDue, start + size)
        return index
    }

    /// The session a sample at `ts` joins, merging sessions it bridges, or a new one.
    private mutating func sessionIndex(joining ts: Int64, gap: Int64) -> Int {
        let joined = windows.indices.filter { ts > windows[$0].start - gap && ts < windows[$0].aggregate.lastTs + gap }
        guard let first = joined.first else {
            let index = windows.firstIndex { $0.start > ts } ?? windows.count
            windows.insert(OpenWindow(start: ts, end: ts + gap), at: index)
            earliestDue = min(earliestDue, ts + gap)
            return index
        }
        for other in joined.dropFirst().reversed() {
            let window = windows.remove(at: other)
            windows[first].aggregate.merge(window.aggregate)
            windows[first].end = max(windows[first].end, window.end)
            windows[first].emitted = windows[first].emitted || window.emitted
        }
        windows[first].start = min(windows[first].start, ts)
        if joined.count > 1, windows[first].emitted { windows[first].changedSinceEmit = true }
        return first
    }
}
