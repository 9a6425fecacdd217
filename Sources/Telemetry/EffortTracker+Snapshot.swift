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

    /// Format version of ``meta()`` and of every entry.
    public static let entryVersion: Int64 = 3

    /// What is not kept in entries: the distances, the idle time and the last sweep.
    public func meta() -> [UInt8] {
        var w = StateWriter()
        w.write(Self.entryVersion)
        w.write(distances.count)
        for distance in distances { w.write(distance) }
        w.write(idleMillis)
        w.write(sweptAt)
        return w.bytes
    }

    /// Whether `bytes` is a ``meta()`` (else a whole-state ``snapshot()``).
    public static func isMeta(_ bytes: [UInt8]) -> Bool {
        var r = StateReader(bytes)
        return (try? r.readInt64()) == entryVersion
    }

    /// Sessions changed or ended, and users whose bests changed, since the last call, each
    /// once, by their entry keys (``sessionEntry(_:)``, ``bestsEntry(_:)``).
    public mutating func takeChanges() -> (sessions: [String], bests: [String]) {
        var sessionKeys: [String] = []
        var seen: Set<SessionKey> = []
        for key in changedSessions where seen.insert(key).inserted {
            if let index = sessions.index(forKey: key) { sessions.values[index].changed = false }
            sessionKeys.append(Self.entryKey(key))
        }
        changedSessions = []
        let bests = Array(Set(changedBests))
        changedBests = []
        return (sessionKeys, bests)
    }

    /// A session's key in the entries: its three ids, each but the last length-prefixed.
    static func entryKey(_ key: SessionKey) -> String {
        "\(key.user.utf8.count):\(key.user)\(key.device.utf8.count):\(key.device)\(key.session)"
    }

    /// The entry of the session with entry key `key`; nil once it ended (the entry is deleted).
    public func sessionEntry(_ key: String) -> [UInt8]? {
        guard let sessionKey = Self.sessionKey(key), let session = sessions[sessionKey] else { return nil }
        var w = StateWriter()
        w.write(Self.entryVersion)
        write(sessionKey, session, to: &w)
        return w.bytes
    }

    private static func sessionKey(_ key: String) -> SessionKey? {
        var rest = Substring(key)
        func field() -> String? {
            guard let colon = rest.firstIndex(of: ":"), let count = Int(rest[..<colon]) else { return nil }
            let utf8 = rest[rest.index(after: colon)...].utf8
            guard utf8.count >= count else { return nil }
            let end = utf8.index(utf8.startIndex, offsetBy: count)
            defer { rest = Substring(rest[end...]) }
            return String(rest[rest.index(after: colon)..<end])
        }
        guard let user = field(), let device = field() else { return nil }
        return SessionKey(user: user, device: device, session: String(rest))
    }

    /// The entry of `user`'s personal bests; nil when there are none.
    public func bestsEntry(_ user: String) -> [UInt8]? {
        guard let bests = personalBests[user] else { return nil }
        var w = StateWriter()
        w.write(Self.entryVersion)
        for best in bests { w.write(best) }
        return w.bytes
    }

    /// Every entry, for a snapshot that writes them all.
    public func entries() -> (sessions: [(key: String, entry: [UInt8])], bests: [(key: String, entry: [UInt8])]) {
        (sessions.keys.map { key in let k = Self.entryKey(key); return (k, sessionEntry(k)!) },
         personalBests.keys.map { ($0, bestsEntry($0)!) })
    }

    /// Restores a tracker from its ``meta()`` and entries.
    /// - Throws: ``StateReader/Corrupt`` when any of them is not of this version or is damaged.
    public init(meta: [UInt8], sessions sessionEntries: some Sequence<[UInt8]>, bests: some Sequence<(user: String, entry: [UInt8])>) throws {
        var r = StateReader(meta)
        guard try r.readInt64() == Self.entryVersion else { throw StateReader.Corrupt(offset: 0) }
        let distances = try (0..<(try r.readInt())).map { _ in try r.readDouble() }
        self.init(distances: distances, idleMillis: try r.readInt64())
        guard self.distances == distances else { throw StateReader.Corrupt(offset: 8) }
        sweptAt = try r.readInt64()
        guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
        for entry in sessionEntries {
            var r = StateReader(entry)
            guard try r.readInt64() == Self.entryVersion else { throw StateReader.Corrupt(offset: 0) }
            let (key, session) = try readSession(&r, version: Self.snapshotVersion)
            guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
            sessions[key] = session
        }
        for (user, entry) in bests {
            var r = StateReader(entry)
            guard try r.readInt64() == Self.entryVersion else { throw StateReader.Corrupt(offset: 0) }
            personalBests[user] = try distances.map { _ in try r.readOptionalInt64() }
            guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
        }
    }

    // MARK: One session

    private func write(_ key: SessionKey, _ session: Session, to w: inout StateWriter) {
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

    private func readSession(_ r: inout StateReader, version: Int64) throws -> (SessionKey, Session) {
        let key = SessionKey(user: try r.readString(), device: try r.readString(), session: try r.readString())
        var session = Session()
        session.lastTs = try r.readInt64()
        if version >= 2 { session.lastArrival = try r.readOptionalInt64() }
        session.points = try (0..<(try r.readInt())).map { _ in Point(ts: try r.readInt64(), distance: try r.readDouble()) }
        session.starts = try distances.map { _ in try r.readInt() }
        session.best = try distances.map { _ in try r.readOptionalInt64() }
        guard session.starts.allSatisfy({ $0 < max(session.points.count, 1) }) else { throw StateReader.Corrupt(offset: r.offset) }
        return (key, session)
    }
}
