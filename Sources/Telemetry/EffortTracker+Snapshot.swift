import ClubKernel
extension EffortTracker {
    /// Format version of ``snapshot()``.
    public static let snapshotVersion: Int64 = 2

    /// All state, in the compact binary form of ``StateWriter`` (the JSON of earlier
    /// versions took seconds for 100,000 sessions, inside the pipeline loop).
    public func snapshot() -> [UInt8] {
        var w = StateWriter()
        w.write(Self.snapshotVersion)
        w.write(distances.count)
        for distance in distances { w.write(distance) }
        w.write(idleMillis)
        w.write(sweptAt)
        w.write(sessions.count)
        for (key, session) in sessions {
            w.write(key.user)
            w.write(key.device)
            w.write(key.session)
            w.write(session.lastTs)
            w.write(session.lastArrival)
            w.write(session.points.count)
            for point in session.points {
                w.write(point.ts)
                w.write(point.distance)
            }
            // One start and one best per distance.
            for start in session.starts { w.write(start) }
            for best in session.best { w.write(best) }
        }
        w.write(personalBests.count)
        for (user, bests) in personalBests {
            w.write(user)
            for best in bests { w.write(best) }
        }
        return w.bytes
    }

    /// Restores state written by ``snapshot()``.
    /// - Throws: ``StateReader/Corrupt`` when the bytes are not a snapshot of this version.
    public init(snapshot bytes: [UInt8]) throws {
        var r = StateReader(bytes)
        // Version 1 swept on the event time of all users (skipped) and knew no arrivals.
        let version = try r.readInt64()
        guard version == Self.snapshotVersion || version == 1 else { throw StateReader.Corrupt(offset: 0) }
        let distances = try (0..<(try r.readInt())).map { _ in try r.readDouble() }
        self.init(distances: distances, idleMillis: try r.readInt64())
        guard self.distances == distances else { throw StateReader.Corrupt(offset: 8) }  // stored sorted
        if version == 1 {
            _ = try r.readInt64()
            _ = try r.readInt64()
        } else {
            sweptAt = try r.readInt64()
        }
        for _ in 0..<(try r.readInt()) {
            let key = SessionKey(user: try r.readString(), device: try r.readString(), session: try r.readString())
            var session = Session()
            session.lastTs = try r.readInt64()
            if version >= 2 { session.lastArrival = try r.readOptionalInt64() }
            session.points = try (0..<(try r.readInt())).map { _ in Point(ts: try r.readInt64(), distance: try r.readDouble()) }
            session.starts = try distances.map { _ in try r.readInt() }
            session.best = try distances.map { _ in try r.readOptionalInt64() }
            guard session.starts.allSatisfy({ $0 < max(session.points.count, 1) }) else { throw StateReader.Corrupt(offset: r.offset) }
            sessions[key] = session
        }
        for _ in 0..<(try r.readInt()) {
            personalBests[try r.readString()] = try distances.map { _ in try r.readOptionalInt64() }
        }
        guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
    }
}
