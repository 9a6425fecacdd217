import Events

/// Finds each device session's fastest efforts over given distances (1 km, 5 km, 10 km …)
/// by sliding over its cumulative distance, and, when the session ends, reports those that
/// beat the user's personal bests.
///
/// Samples are taken in arrival order; one older than the session's newest is skipped (a
/// late sample moves an effort by at most one sample interval). A counter that goes down
/// starts a new segment. A session ends when no sample of it arrived for `idleMillis` on the
/// daemon's clock (never another user's event time: a late-syncing watch is not cut short by
/// someone else's live phone).
public struct EffortTracker: Sendable, Equatable, Codable {
    /// One device session of a user.
    public struct SessionKey: Hashable, Sendable, Codable {
        public let user: String
        public let device: String
        public let session: String

        /// Its key among a snapshot's entries: the three ids, each but the last length-prefixed.
        public var entryKey: String { "\(user.utf8.count):\(user)\(device.utf8.count):\(device)\(session)" }
    }

    /// One point of a segment in 8 bytes: milliseconds after the session's `baseTs` and
    /// millimetres over its `baseMillimetres` (distances are compared to the millimetre).
    struct Point: Sendable, Equatable {
        var offset: UInt32
        var millimetres: UInt32
    }

    struct Session: Sendable, Equatable, Codable {
        /// Points of the current segment, from the oldest any distance still needs.
        var points: [Point] = []
        /// What the points' offsets count from.
        var baseTs: Int64 = 0
        var baseMillimetres: Int64 = 0
        /// Per distance, the index in `points` of the latest start that covers it.
        var starts: [Int] = []
        /// Per distance, the fastest time found, in milliseconds.
        var best: [Int64?] = []
        var lastTs = Int64.min
        /// When its last sample arrived on the daemon's clock; nil: not known (replayed, or
        /// restored from an older snapshot) — its idle time starts at the next look.
        var lastArrival: Int64?
        /// Listed in ``EffortTracker/changedSessions`` since the last incremental snapshot
        /// (bookkeeping: not part of the state, not compared, not encoded).
        var changed = false

        enum CodingKeys: String, CodingKey { case points, starts, best, lastTs, lastArrival }

        static func == (a: Session, b: Session) -> Bool {
            a.points.count == b.points.count && a.points.indices.allSatisfy { a.ts($0) == b.ts($0) && a.millimetres($0) == b.millimetres($0) }
                && (a.starts, a.best, a.lastTs, a.lastArrival) == (b.starts, b.best, b.lastTs, b.lastArrival)
        }

        @inline(__always) func ts(_ index: Int) -> Int64 { baseTs + Int64(points[index].offset) }
        @inline(__always) func millimetres(_ index: Int) -> Int64 { baseMillimetres + Int64(points[index].millimetres) }

        /// Appends a point at or after the last one. Offsets past 32 bits (a segment of more
        /// than 49 days or 4,294 km) count from the oldest point still needed instead.
        /// - Returns: false when even that cannot hold it: the caller starts a new segment.
        mutating func append(ts: Int64, millimetres: Int64) -> Bool {
            if points.isEmpty {
                baseTs = ts
                baseMillimetres = millimetres
            }
            if ts - baseTs > Int64(UInt32.max) || millimetres - baseMillimetres > Int64(UInt32.max) {
                // Clamped: while a snapshot's points are read back, the starts name later ones.
                let keep = min(starts.min() ?? 0, points.count - 1)
                let (newTs, newMillimetres) = (self.ts(keep), self.millimetres(keep))
                points = points[keep...].map {
                    Point(offset: UInt32(baseTs + Int64($0.offset) - newTs), millimetres: UInt32(baseMillimetres + Int64($0.millimetres) - newMillimetres))
                }
                starts = starts.map { $0 - keep }
                (baseTs, baseMillimetres) = (newTs, newMillimetres)
                guard ts - baseTs <= Int64(UInt32.max), millimetres - baseMillimetres <= Int64(UInt32.max) else { return false }
            }
            points.append(Point(offset: UInt32(ts - baseTs), millimetres: UInt32(millimetres - baseMillimetres)))
            return true
        }

        /// Starts a new segment (a device reset, or one too long for 32-bit offsets).
        mutating func newSegment(distances: Int) {
            points = []
            starts = Array(repeating: 0, count: distances)
        }

        /// The millimetres of a distance in metres, as points keep them.
        static func millimetres(metres: Double) -> Int64 { Int64((metres * 1000).rounded()) }

        // The JSON of earlier versions: points as absolute times and metres.
        private struct AbsolutePoint: Codable {
            let ts: Int64
            let distance: Double
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            starts = try c.decode([Int].self, forKey: .starts)
            best = try c.decode([Int64?].self, forKey: .best)
            lastTs = try c.decode(Int64.self, forKey: .lastTs)
            lastArrival = try c.decodeIfPresent(Int64.self, forKey: .lastArrival)
            for point in try c.decode([AbsolutePoint].self, forKey: .points) {
                guard append(ts: point.ts, millimetres: Self.millimetres(metres: point.distance)) else {
                    throw DecodingError.dataCorruptedError(forKey: .points, in: c, debugDescription: "points beyond 32-bit offsets")
                }
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(points.indices.map { AbsolutePoint(ts: ts($0), distance: Double(millimetres($0)) / 1000) }, forKey: .points)
            try c.encode(starts, forKey: .starts)
            try c.encode(best, forKey: .best)
            try c.encode(lastTs, forKey: .lastTs)
            try c.encodeIfPresent(lastArrival, forKey: .lastArrival)
        }

        init(starts: [Int] = [], best: [Int64?] = []) {
            self.starts = starts
            self.best = best
        }
    }

    /// A personal record set by a finished session.
    public struct Record: Sendable, Equatable {
        public let user: String
        public let device: String
        public let session: String
        public let distance: Double
        public let millis: Int64
        public let previousMillis: Int64?
        /// The session's last sample.
        public let endedAt: Int64
    }

    public let distances: [Double]
    /// How long a session's samples may pause (daemon clock) before it ends; the configuration's,
    /// also over a restored snapshot's.
    public var idleMillis: Int64
    var sessions: [SessionKey: Session] = [:]
    /// Per user, the best time per distance over all finished sessions.
    var personalBests: [String: [Int64?]] = [:]
    /// Daemon clock of the last look for ended sessions.
    var sweptAt = Int64.min
    /// Sessions changed or ended, and users whose bests changed, since the last
    /// ``takeChanges()``: what an incremental snapshot writes.
    var changedSessions: [SessionKey] = []
    var changedBests: [String] = []

    enum CodingKeys: String, CodingKey { case distances, idleMillis, sessions, personalBests, sweptAt }

    public static func == (a: EffortTracker, b: EffortTracker) -> Bool {
        (a.distances, a.idleMillis, a.sessions, a.personalBests, a.sweptAt) == (b.distances, b.idleMillis, b.sessions, b.personalBests, b.sweptAt)
    }

    public init(distances: [Double], idleMillis: Int64 = 120_000) {
        self.distances = distances.sorted()
        self.idleMillis = idleMillis
    }

    /// Takes samples in order, which arrived at `now` (nil: replayed after a restart, when no
    /// session ends), and returns the records of sessions that ended by `now`. An empty batch
    /// is a tick of the clock.
    public mutating func process(_ samples: [TelemetrySample], now: Int64?) -> [Record] {
        let targets = distances.map { Session.millimetres(metres: $0) }
        for sample in samples {
            guard let distance = sample.distance else { continue }
            let key = SessionKey(user: sample.user, device: sample.device, session: sample.session)
            let index: [SessionKey: Session].Index
            if let existing = sessions.index(forKey: key) {
                index = existing
            } else {
                sessions[key] = Session(starts: Array(repeating: 0, count: distances.count), best: Array(repeating: nil, count: distances.count))
                index = sessions.index(forKey: key)!
            }
            // Swapped out while it changes, so that its arrays are mutated in place.
            var session = Session()
            swap(&session, &sessions.values[index])
            defer { swap(&session, &sessions.values[index]) }
            Self.markChanged(&session, key, in: &changedSessions)
            session.lastArrival = now
            guard sample.ts > session.lastTs else { continue }
            session.lastTs = sample.ts
            let millimetres = Session.millimetres(metres: distance)
            if !session.points.isEmpty, millimetres < session.millimetres(session.points.count - 1) {
                session.newSegment(distances: distances.count)  // a device reset
            }
            if !session.append(ts: sample.ts, millimetres: millimetres) {
                session.newSegment(distances: distances.count)
                _ = session.append(ts: sample.ts, millimetres: millimetres)
            }
            let newest = session.points.count - 1
            let reached = session.points[newest].millimetres
            for (d, target) in targets.enumerated() {
                // Move the start forward while the effort from the next point still covers the distance.
                while session.starts[d] + 1 <= newest, Int64(reached) - Int64(session.points[session.starts[d] + 1].millimetres) >= target {
                    session.starts[d] += 1
                }
                let start = session.points[session.starts[d]]
                guard Int64(reached) - Int64(start.millimetres) >= target else { continue }
                let millis = Int64(session.points[newest].offset) - Int64(start.offset)
                if session.best[d].map({ millis < $0 }) ?? true { session.best[d] = millis }
            }
            // Points before the start the longest distance needs are never used again.
            let keep = session.starts.min() ?? 0
            if keep > 256 {
                session.points.removeFirst(keep)
                session.starts = session.starts.map { $0 - keep }
            }
        }
        // Look for ended sessions once per second of the clock.
        guard let now, now >= sweptAt + 1000 else { return [] }
        sweptAt = now
        return finishIdleSessions(now: now)
    }

    /// Notes that session `key` changes (listed once in `changed` until the next ``takeChanges()``).
    private static func markChanged(_ session: inout Session, _ key: SessionKey, in changed: inout [SessionKey]) {
        guard !session.changed else { return }
        session.changed = true
        changed.append(key)
    }

    private mutating func finishIdleSessions(now: Int64) -> [Record] {
        for index in sessions.indices where sessions.values[index].lastArrival == nil {
            sessions.values[index].lastArrival = now
            Self.markChanged(&sessions.values[index], sessions.keys[index], in: &changedSessions)
        }
        let ended = sessions.filter { $0.value.lastArrival! + idleMillis <= now }.sorted { ($0.value.lastTs, $0.key.user, $0.key.session) < ($1.value.lastTs, $1.key.user, $1.key.session) }
        var records: [Record] = []
        for (key, session) in ended {
            sessions[key] = nil
            changedSessions.append(key)
            changedBests.append(key.user)
            var bests = personalBests[key.user] ?? Array(repeating: nil, count: distances.count)
            for (d, target) in distances.enumerated() {
                guard let millis = session.best[d], bests[d].map({ millis < $0 }) ?? true else { continue }
                records.append(
                    Record(
                        user: key.user, device: key.device, session: key.session, distance: target, millis: millis, previousMillis: bests[d],
                        endedAt: session.lastTs))
                bests[d] = millis
            }
            personalBests[key.user] = bests
        }
        return records
    }
}
