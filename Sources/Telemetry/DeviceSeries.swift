import Events

/// One measurement point of a device session: what later samples need to compute their
/// contributions, in 24 bytes (a user keeps every point of the allowed lateness in memory).
/// Its contribution is not stored: it follows from the point and its predecessors, and is
/// computed again where it is needed. Absent values are NaN (``AbsentAsNaN``); the speed is kept only as what
/// it decides, whether the sample moves; event time and that decision share one word (event
/// times within ±2^61 ms, far beyond what the decoder admits).
struct SeriesPoint: Equatable {
    /// What the sample's speed says: none given, below the spec's moving speed, or at it.
    enum Motion: Int64 {
        case unknown = 0, still = 1, moving = 2
    }

    private var packed: Int64
    @AbsentAsNaN var distance: Double?
    @AbsentAsNaN var altitude: Double?

    var ts: Int64 { packed >> 2 }
    /// Event time and motion in one word, as snapshots write them.
    var timeAndMotion: Int64 { packed }
    var motion: Motion { Motion(rawValue: packed & 3) ?? .unknown }

    init(_ s: TelemetrySample, spec: WindowSpec) {
        self.init(ts: s.ts, distance: s.distance, altitude: s.altitude, motion: Self.motion(speed: s.speed, spec: spec))
    }

    init(ts: Int64, distance: Double?, altitude: Double?, motion: Motion) {
        packed = ts &<< 2 | motion.rawValue
        self.distance = distance
        self.altitude = altitude
    }

    static func motion(speed: Double?, spec: WindowSpec) -> Motion {
        speed.map { $0 >= spec.minMovingSpeed ? .moving : .still } ?? .unknown
    }
}

/// The samples of one (device, session) in event-time order, applying the contract's
/// cumulative-counter rule: each sample contributes the increase from the previous counter.
///
/// Old points are pruned once no open window can hold them; the last pruned values stay as
/// the predecessor of whatever comes next, so pruning never changes a result.
struct DeviceSeries: Equatable {
    private(set) var points: [SeriesPoint] = []
    /// Newest pruned point's time, and the newest pruned counter and altitude.
    var floorTs: Int64?
    var floorDistance: Double?
    var floorAltitude: Double?
    /// Newest event time seen, for forgetting idle sessions.
    var lastSeen: Int64 = .min

    /// A change to one point's contribution, to be applied to the windows holding `ts`.
    struct Change {
        let ts: Int64
        let delta: Contribution
    }

    /// Inserts a sample.
    /// - Returns: nil for a repeated `ts` (counted once), otherwise the new point's
    ///   contribution and the corrections to successors whose predecessor changed.
    mutating func insert(_ sample: TelemetrySample, spec: WindowSpec) -> (contribution: Contribution, corrections: [Change])? {
        if let floorTs, sample.ts <= floorTs { return nil }
        lastSeen = max(lastSeen, sample.ts)
        let index = insertionIndex(sample.ts)
        let point = SeriesPoint(sample, spec: spec)
        if index == points.count {  // in order: no successor
            points.append(point)
            return (contribution(at: index, spec: spec), [])
        }
        if points[index].ts == sample.ts { return nil }
        // Successors whose predecessor for some measure becomes the new point: the immediate
        // one (moving time) and those up to the next one carrying distance, and altitude.
        var needDistance = point.distance != nil
        var needAltitude = point.altitude != nil
        var end = index
        while end < points.count, end == index || needDistance || needAltitude {
            if points[end].distance != nil { needDistance = false }
            if points[end].altitude != nil { needAltitude = false }
            end += 1
        }
        let before = (index..<end).map { contribution(at: $0, spec: spec) }
        points.insert(point, at: index)
        var corrections: [Change] = []
        for (k, old) in before.enumerated() {
            let i = index + 1 + k
            let new = contribution(at: i, spec: spec)
            if new != old { corrections.append(Change(ts: points[i].ts, delta: new - old)) }
        }
        return (contribution(at: index, spec: spec), corrections)
    }

    private func insertionIndex(_ ts: Int64) -> Int {
        if let last = points.last, last.ts < ts { return points.count }
        var low = 0
        var high = points.count
        while low < high {
            let mid = (low + high) / 2
            if points[mid].ts < ts { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// What the point at `index` adds, given its predecessors (or the floor).
    private func contribution(at index: Int, spec: WindowSpec) -> Contribution {
        let point = points[index]
        var c = Contribution()
        if let d = point.distance {
            if let previous = previousValue(before: index, floor: floorDistance, { $0.distance }) {
                c.distance = d >= previous ? d - previous : d  // a counter going down is a reset
            } else {
                c.distance = d
            }
        }
        if let a = point.altitude, let previous = previousValue(before: index, floor: floorAltitude, { $0.altitude }) {
            c.elevationGain = max(0, a - previous)
        }
        let previousTs = index > 0 ? points[index - 1].ts : floorTs
        if let previousTs, point.ts - previousTs <= spec.maxSampleGap {
            let moving = switch point.motion {
            case .unknown: c.distance > 0
            case .still: false
            case .moving: true
            }
            if moving { c.movingMillis = point.ts - previousTs }
        }
        return c
    }

    @inline(__always)
    private func previousValue(before index: Int, floor: Double?, _ value: (SeriesPoint) -> Double?) -> Double? {
        var i = index - 1
        while i >= 0 {
            if let v = value(points[i]) { return v }
            i -= 1
        }
        return floor
    }

    /// Drops points that no open window can hold any more.
    mutating func prune(horizon: Int64, spec: WindowSpec) {
        var count = 0
        while count < points.count, spec.latestEnd(of: points[count].ts) <= horizon {
            let p = points[count]
            floorTs = p.ts
            if let d = p.distance { floorDistance = d }
            if let a = p.altitude { floorAltitude = a }
            count += 1
        }
        if count > 0 { points.removeFirst(count) }
    }

    /// Restores a series from a snapshot.
    init(points: [SeriesPoint] = [], floorTs: Int64? = nil, floorDistance: Double? = nil, floorAltitude: Double? = nil,
         lastSeen: Int64 = .min) {
        self.points = points
        self.floorTs = floorTs
        self.floorDistance = floorDistance
        self.floorAltitude = floorAltitude
        self.lastSeen = lastSeen
    }
}
