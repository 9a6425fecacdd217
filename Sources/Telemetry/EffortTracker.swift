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

    struct Point: Sendable, Equatable, Codable {
        let ts: Int64
        let distance: Double
    }

    struct Session: Sendable, Equatable, Codable {
        /// Points of the current segment, from the oldest any distance still needs.
        var points: [Point] = []
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
            (a.points, a.starts, a.best, a.lastTs, a.lastArrival) == (b.points, b.starts, b.best, b.lastTs, b.lastArrival)
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
            if let last = session.points.last, distance < last.distance {
                session.points = []  // a device reset: a new segment
                session.starts = Array(repeating: 0, count: distances.count)
            }
            session.points.append(Point(ts: sample.ts, distance: distance))
            let newest = session.points.count - 1
            for (d, target) in distances.enumerated() {
                // Move the start forward while the effort from the next point still covers the distance.
                while session.starts[d] + 1 <= newest, distance - session.points[session.starts[d] + 1].distance >= target {
                    session.starts[d] += 1
                }
                let start = session.points[session.starts[d]]
                guard distance - start.distance >= target else { continue }
                let millis = sample.ts - start.ts
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
