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
        for (key, session) in sessions { write(key, session, to: &w) }
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
            let (key, session) = try readSession(&r, version: version)
            sessions[key] = session
        }
        for _ in 0..<(try r.readInt()) {
            personalBests[try r.readString()] = try distances.map { _ in try r.readOptionalInt64() }
        }
        guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
    }

    // MARK: Incremental snapshots: an entry per session and per user's bests

    /// Format version of ``meta()`` and of every entry: 4 writes a session's points as they
    /// are held (8 bytes each over the session's base); entries of version 3 (absolute times
    /// and metres, 16 bytes a point) still restore.
    public static let entryVersion: Int64 = 4
    static let entryVersions: ClosedRange<Int64> = 3...entryVersion

    /// What is not kept in entries: the distances, the idle time and the last sweep.
    public func meta() -> [UInt8] {
        StateWriter.entry(version: Self.entryVersion) { w in
            w.write(distances.count)
            for distance in distances { w.write(distance) }
            w.write(idleMillis)
            w.write(sweptAt)
        }
    }

    /// Whether `bytes` is a ``meta()`` (else a whole-state ``snapshot()``).
    public static func isMeta(_ bytes: [UInt8]) -> Bool {
        var r = StateReader(bytes)
        return (try? r.readInt64()).map(entryVersions.contains) ?? false
    }

    /// Sessions changed or ended, and users whose bests changed, since the last call, each
    /// once: what an incremental snapshot writes (``sessionEntry(_:)``, ``bestsEntry(_:)``)
    /// or deletes.
    public mutating func takeChanges() -> (sessions: [SessionKey], bests: [String]) {
        var seen: Set<SessionKey> = []
        let changed = changedSessions.filter { seen.insert($0).inserted }
        for key in changed {
            if let index = sessions.index(forKey: key) { sessions.values[index].changed = false }
        }
        let bests = Array(Set(changedBests))
        changedSessions = []
        changedBests = []
        return (changed, bests)
    }

    /// The entry of session `key`; nil once it ended (the entry is deleted).
    public func sessionEntry(_ key: SessionKey) -> [UInt8]? {
        sessions[key].map { session in StateWriter.entry(version: Self.entryVersion) { write(key, session, compact: true, to: &$0) } }
    }

    /// The entry of `user`'s personal bests; nil when there are none.
    public func bestsEntry(_ user: String) -> [UInt8]? {
        personalBests[user].map { bests in StateWriter.entry(version: Self.entryVersion) { w in for best in bests { w.write(best) } } }
    }

    /// Every session's entry, for a snapshot that writes them all.
    public func sessionEntries() -> [(key: String, entry: [UInt8])] {
        sessions.keys.map { ($0.entryKey, sessionEntry($0)!) }
    }

    /// Every user's bests entry, for a snapshot that writes them all.
    public func bestsEntries() -> [(key: String, entry: [UInt8])] {
        personalBests.keys.map { ($0, bestsEntry($0)!) }
    }

    /// Restores a tracker from its ``meta()`` and entries.
    /// - Throws: ``StateReader/Corrupt`` when any of them is not of this version or is damaged.
    public init(meta: [UInt8], sessions sessionEntries: some Sequence<[UInt8]>, bests: some Sequence<(key: String, entry: [UInt8])>) throws {
        let (distances, idleMillis, sweptAt) = try StateReader.entry(meta, versions: Self.entryVersions) { r, _ in
            (try (0..<(try r.readInt())).map { _ in try r.readDouble() }, try r.readInt64(), try r.readInt64())
        }
        self.init(distances: distances, idleMillis: idleMillis)
        guard self.distances == distances else { throw StateReader.Corrupt(offset: 8) }
        self.sweptAt = sweptAt
        sessions.reserveCapacity(sessionEntries.underestimatedCount)  // no rehashing while they arrive
        personalBests.reserveCapacity(bests.underestimatedCount)
        for entry in sessionEntries {
            let (key, session) = try StateReader.entry(entry, versions: Self.entryVersions) { r, version in
                try readSession(&r, version: Self.snapshotVersion, compact: version >= 4)
            }
            sessions[key] = session
        }
        for (user, entry) in bests {
            personalBests[user] = try StateReader.entry(entry, versions: Self.entryVersions) { r, _ in try distances.map { _ in try r.readOptionalInt64() } }
        }
    }

    // MARK: One session

    /// One session; `compact` (entries of version 4): its base, then each point's two 32-bit
    /// offsets in one word; else each point's absolute time and metres.
    private func write(_ key: SessionKey, _ session: Session, compact: Bool = false, to w: inout StateWriter) {
        w.write(key.user)
        w.write(key.device)
        w.write(key.session)
        w.write(session.lastTs)
        w.write(session.lastArrival)
        w.write(session.points.count)
        if compact {
            w.write(session.baseTs)
            w.write(session.baseMillimetres)
            for point in session.points { w.write(Int64(bitPattern: UInt64(point.offset) << 32 | UInt64(point.millimetres))) }
        } else {
            for index in session.points.indices {
                w.write(session.ts(index))
                w.write(Double(session.millimetres(index)) / 1000)
            }
        }
        // One start and one best per distance.
        for start in session.starts { w.write(start) }
        for best in session.best { w.write(best) }
    }

    private func readSession(_ r: inout StateReader, version: Int64, compact: Bool = false) throws -> (SessionKey, Session) {
        let key = SessionKey(user: try r.readString(), device: try r.readString(), session: try r.readString())
        var session = Session()
        session.lastTs = try r.readInt64()
        if version >= 2 { session.lastArrival = try r.readOptionalInt64() }
        let count = try r.readInt()
        // Entries of version 3 and whole snapshots: absolute times and metres, appended once the starts are known.
        var absolute: [(ts: Int64, millimetres: Int64)] = []
        if compact {
            session.baseTs = try r.readInt64()
            session.baseMillimetres = try r.readInt64()
            session.points.reserveCapacity(r.plausible(count, itemSize: 8))
            for _ in 0..<count {
                let word = UInt64(bitPattern: try r.readInt64())
                session.points.append(Point(offset: UInt32(word >> 32), millimetres: UInt32(truncatingIfNeeded: word)))
            }
        } else {
            absolute = try (0..<count).map { _ in (ts: try r.readInt64(), millimetres: Session.millimetres(metres: try r.readDouble())) }
        }
        session.starts = try distances.map { _ in try r.readInt() }
        session.best = try distances.map { _ in try r.readOptionalInt64() }
        guard session.starts.allSatisfy({ $0 < max(count, 1) }) else { throw StateReader.Corrupt(offset: r.offset) }
        session.points.reserveCapacity(absolute.count)
        for point in absolute {
            guard session.append(ts: point.ts, millimetres: point.millimetres) else { throw StateReader.Corrupt(offset: r.offset) }
        }
        return (key, session)
    }
}
