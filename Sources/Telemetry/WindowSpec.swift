/// How a pipeline windows telemetry in event time. All durations are milliseconds.
public struct WindowSpec: Sendable, Equatable {
    /// The shape of windows.
    public enum Kind: Sendable, Equatable {
        /// Fixed, non-overlapping windows of `size`, aligned to the epoch.
        case tumbling(size: Int64)
        /// Windows of `size` starting every `slide` (overlapping when slide < size).
        case hopping(size: Int64, slide: Int64)
        /// Activity separated by less than `gap` forms one window per user.
        case session(gap: Int64)

        /// The name used in pipeline files and outputs.
        public var name: String {
            switch self {
            case .tumbling: "tumbling"
            case .hopping: "hopping"
            case .session: "session"
            }
        }
    }

    public var kind: Kind
    /// How long after a window closed a late sample still corrects it (re-emitted as an update).
    public var allowedLateness: Int64
    /// How far behind the newest event time the watermark trails, to absorb reordering.
    public var outOfOrderness: Int64
    /// A user's windows also close once nothing of theirs arrived for this long on the
    /// daemon's clock, so a user who stops sending still gets final windows.
    public var idleTimeout: Int64
    /// Two samples further apart than this do not add moving time.
    public var maxSampleGap: Int64
    /// Below this speed (m/s) a sample is not moving.
    public var minMovingSpeed: Double
    /// A device session not heard from for this long (event time) is forgotten.
    public var sessionTimeout: Int64

    public init(
        kind: Kind, allowedLateness: Int64 = 120_000, outOfOrderness: Int64 = 5_000, idleTimeout: Int64 = 300_000,
        maxSampleGap: Int64 = 30_000, minMovingSpeed: Double = 0.5, sessionTimeout: Int64 = 6 * 3_600_000
    ) {
        self.kind = kind
        self.allowedLateness = allowedLateness
        self.outOfOrderness = outOfOrderness
        self.idleTimeout = idleTimeout
        self.maxSampleGap = maxSampleGap
        self.minMovingSpeed = minMovingSpeed
        self.sessionTimeout = sessionTimeout
    }

    /// The latest end of any window that can hold a sample at `ts`. A sample whose latest
    /// end is at or before the lateness horizon is late for good.
    func latestEnd(of ts: Int64) -> Int64 {
        switch kind {
        case .tumbling(let size): floorDiv(ts, size) * size + size
        case .hopping(let size, let slide): floorDiv(ts, slide) * slide + size
        case .session(let gap): ts + gap
        }
    }

    /// Starts of the fixed windows holding `ts` (tumbling and hopping only).
    func windowStarts(of ts: Int64) -> [Int64] {
        switch kind {
        case .tumbling(let size): return [floorDiv(ts, size) * size]
        case .hopping(let size, let slide):
            var starts: [Int64] = []
            var start = floorDiv(ts, slide) * slide
            while start > ts - size {
                starts.append(start)
                start -= slide
            }
            return starts.reversed()
        case .session: return []
        }
    }

    var fixedSize: Int64 {
        switch kind {
        case .tumbling(let size), .hopping(let size, _): size
        case .session(let gap): gap
        }
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
