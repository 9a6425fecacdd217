import Events

/// One measurement point of a device session: what later samples need to compute their
/// contributions, and what it currently contributes. Absent values are stored as NaN so a
/// point takes 56 bytes; a user keeps every point of the allowed lateness in memory.
struct SeriesPoint: Equatable {
    var ts: Int64
    private var storedDistance: Double
    private var storedAltitude: Double
    private var storedSpeed: Double
    var contribution = Contribution()

    var distance: Double? { storedDistance.isNaN ? nil : storedDistance }
    var altitude: Double? { storedAltitude.isNaN ? nil : storedAltitude }
    var speed: Double? { storedSpeed.isNaN ? nil : storedSpeed }

    init(_ s: TelemetrySample) {
        self.init(ts: s.ts, distance: s.distance, altitude: s.altitude, speed: s.speed, contribution: Contribution())
    }

    init(ts: Int64, distance: Double?, altitude: Double?, speed: Double?, contribution: Contribution) {
        self.ts = ts
        storedDistance = distance ?? .nan
        storedAltitude = altitude ?? .nan
        storedSpeed = speed ?? .nan
        self.contribution = contribution
    }

    static func == (a: SeriesPoint, b: SeriesPoint) -> Bool {
        a.ts == b.ts && a.distance == b.distance && a.altitude == b.altitude && a.speed == b.speed && a.contribution == b.contribution
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
    /// - Returns: nil for a repeated `ts` (counted once), otherwise the new point and the
    ///   corrections to successors whose predecessor changed.
    mutating func insert(_ sample: TelemetrySample, spec: WindowSpec) -> (point: SeriesPoint, corrections: [Change])? {
        if let floorTs, sample.ts <= floorTs { return nil }
        lastSeen = max(lastSeen, sample.ts)
        let index = insertionIndex(sample.ts)
        if index < points.count, points[index].ts == sample.ts { return nil }
        points.insert(SeriesPoint(sample), at: index)
        points[index].contribution = contribution(at: index, spec: spec)
        var corrections: [Change] = []
        // Successors whose predecessor for some measure is the new point: the immediate one
        // (moving time) and the next one carrying distance or altitude.
        var needDistance = points[index].distance != nil
        var needAltitude = points[index].altitude != nil
        var i = index + 1
        while i < points.count, i == index + 1 || needDistance || needAltitude {
            let old = points[i].contribution
            let new = contribution(at: i, spec: spec)
            if new != old {
                points[i].contribution = new
                corrections.append(Change(ts: points[i].ts, delta: new - old))
            }
            if points[i].distance != nil { needDistance = false }
            if points[i].altitude != nil { needAltitude = false }
            i += 1
        }
        return (points[index], corrections)
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
            let moving = point.speed.map { $0 >= spec.minMovingSpeed } ?? (c.distance > 0)
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
