import ClubKernel
extension WindowOperator {
    /// Format version of ``snapshot()``.
    /// Version 5 keeps points compact (no stored contribution, the speed as a moving flag);
    /// versions 3 and 4 still restore.
    public static let snapshotVersion: Int64 = 5

    /// All state, for a restart that continues exactly where this run stopped.
    public func snapshot() -> [UInt8] {
        var w = StateWriter()
        w.write(Self.snapshotVersion)
        w.write(users.count)
        for (user, state) in users {
            w.write(user)
            write(state, to: &w)
        }
        return w.bytes
    }

    /// Restores state written by ``snapshot()`` for the same window spec.
    /// - Throws: ``StateReader/Corrupt`` when the bytes are not a snapshot of this version.
    public init(spec: WindowSpec, snapshot bytes: [UInt8]) throws {
        self.init(spec: spec)
        var r = StateReader(bytes)
        // Version 3 had one watermark for all users (skipped) and no arrival times.
        let version = try r.readInt64()
        guard (3...Self.snapshotVersion).contains(version) else { throw StateReader.Corrupt(offset: 0) }
        if version == 3 { _ = try r.readInt64() }
        for _ in 0..<(try r.readInt()) {
            let user = try r.readString()
            restore(user, try readUser(&r, version: version))
        }
        guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
    }

    // MARK: Incremental snapshots: one entry per user

    /// Format version of ``entry(of:)``: 2 is written in snapshot version 5's layout, 1 (in
    /// version 4's) still restores.
    public static let entryVersion: Int64 = 2

    /// The users whose state changed, or who were forgotten, since the last call, each once:
    /// what an incremental snapshot writes (``entry(of:)``) or deletes.
    public mutating func takeChangedUsers() -> [String] {
        let taken = changedUsers
        changedUsers = []
        var unique: [String] = []
        unique.reserveCapacity(taken.count)
        var forgotten: Set<String> = []
        for user in taken {
            if let index = users.index(forKey: user) {
                // Listed again after being forgotten and seen anew: its flag tells the first listing.
                guard users.values[index].changed else { continue }
                users.values[index].changed = false
                unique.append(user)
            } else if forgotten.insert(user).inserted {
                unique.append(user)
            }
        }
        return unique
    }

    /// `user`'s state as one entry of an incremental snapshot; nil when the operator keeps
    /// nothing for them (forgotten: the entry is deleted).
    public func entry(of user: String) -> [UInt8]? {
        users[user].map { state in StateWriter.entry(version: Self.entryVersion) { write(state, to: &$0) } }
    }

    /// Every user's entry, for a snapshot that writes them all.
    public func entries() -> [(key: String, entry: [UInt8])] {
        users.map { user, state in (user, StateWriter.entry(version: Self.entryVersion) { write(state, to: &$0) }) }
    }

    /// Restores state from the entries of ``entry(of:)`` for the same window spec.
    /// - Throws: ``StateReader/Corrupt`` when an entry is not of this version, naming its offset.
    public init(spec: WindowSpec, entries: some Sequence<(key: String, entry: [UInt8])>) throws {
        self.init(spec: spec)
        users.reserveCapacity(entries.underestimatedCount)  // no rehashing while 100,000 users arrive
        for (user, entry) in entries {
            let state = try StateReader.entry(entry, versions: 1...Self.entryVersion) { r, version in
                try readUser(&r, version: version == 1 ? 4 : Self.snapshotVersion)
            }
            restore(user, state)
        }
    }

    // MARK: One user

    private func write(_ state: UserWindows, to w: inout StateWriter) {
        w.write(state.maxTs)
        w.write(state.lastArrival)
        w.write(state.closedThrough)
        w.write(state.windows.count)
        for window in state.windows {
            w.write(window.start)
            w.write(window.end)
            w.write(window.emitted)
            w.write(window.changedSinceEmit)
            write(window.aggregate, to: &w)
        }
        w.write(state.series.count)
        for (key, series) in state.series {
            w.write(key.device)
            w.write(key.session)
            w.write(series.floorTs)
            w.write(series.floorDistance)
            w.write(series.floorAltitude)
            w.write(series.lastSeen)
            w.write(series.points.count)
            for p in series.points {
                w.write(p.timeAndMotion)
                w.write(p.distance)
                w.write(p.altitude)
            }
        }
    }

    /// One user's state as ``write(_:to:)`` wrote it (in snapshot `version`, 3 to 5).
    private func readUser(_ r: inout StateReader, version: Int64) throws -> UserWindows {
        var state = UserWindows()
        state.maxTs = try r.readInt64()
        if version >= 4 {
            state.lastArrival = try r.readInt64()
            state.closedThrough = try r.readInt64()
        }
        let windows = try r.readInt()
        state.windows.reserveCapacity(r.plausible(windows, itemSize: 18))  // start, end, two flags at least
        for _ in 0..<windows {
            var window = OpenWindow(start: try r.readInt64(), end: try r.readInt64())
            window.emitted = try r.readBool()
            window.changedSinceEmit = try r.readBool()
            window.aggregate = try readAggregate(&r)
            state.windows.append(window)
        }
        for _ in 0..<(try r.readInt()) {
            let key = SeriesKey(device: try r.readString(), session: try r.readString())
            let floorTs = try r.readOptionalInt64()
            let floorDistance = try r.readOptionalDouble()
            let floorAltitude = try r.readOptionalDouble()
            let lastSeen = try r.readInt64()
            var points: [SeriesPoint] = []
            let count = try r.readInt()
            points.reserveCapacity(r.plausible(count, itemSize: 18))  // time, motion and two flags at least
            for _ in 0..<count {
                if version >= 5 {
                    let packed = try r.readInt64()
                    guard let motion = SeriesPoint.Motion(rawValue: packed & 3) else { throw StateReader.Corrupt(offset: r.offset) }
                    points.append(
                        SeriesPoint(ts: packed >> 2, distance: try r.readOptionalDouble(), altitude: try r.readOptionalDouble(), motion: motion))
                } else {
                    let ts = try r.readInt64()
                    // The speed, then the contribution, which follows from the points.
                    let distance = try r.readOptionalDouble()
                    let altitude = try r.readOptionalDouble()
                    let motion = SeriesPoint.motion(speed: try r.readOptionalDouble(), spec: spec)
                    _ = (try r.readDouble(), try r.readInt64(), try r.readDouble())
                    points.append(SeriesPoint(ts: ts, distance: distance, altitude: altitude, motion: motion))
                }
            }
            state.series[key] = DeviceSeries(
                points: points, floorTs: floorTs, floorDistance: floorDistance, floorAltitude: floorAltitude,
                lastSeen: lastSeen)
        }
        return state
    }

    /// Puts a restored user in place and rebuilds what is derived: the user's due time and
    /// idle timer (an unknown arrival is timed at the first tick).
    private mutating func restore(_ user: String, _ restored: UserWindows) {
        var state = restored
        state.earliestDue = nextDue(state) ?? .max
        let idleDue = state.lastArrival == UserWindows.never ? Int64.min : state.lastArrival + spec.idleTimeout
        state.idleAt = idleDue
        idleTimers.push(idleDue, user)
        users[user] = state
    }

    private func write(_ a: WindowAggregate, to w: inout StateWriter) {
        w.write(a.samples)
        w.write(a.distance)
        w.write(a.movingMillis)
        w.write(a.elevationGain)
        w.write(a.heartRateSum)
        w.write(a.heartRateCount)
        w.write(a.heartRateMax)
        w.write(a.speedSum)
        w.write(a.speedCount)
        w.write(a.cadenceSum)
        w.write(a.cadenceCount)
        w.write(a.powerSum)
        w.write(a.powerCount)
        w.write(a.firstTs)
        w.write(a.lastTs)
        w.write(a.sport ?? "")
        w.write(a.sportTs)
    }

    private func readAggregate(_ r: inout StateReader) throws -> WindowAggregate {
        var a = WindowAggregate()
        a.samples = try r.readInt()
        a.distance = try r.readDouble()
        a.movingMillis = try r.readInt64()
        a.elevationGain = try r.readDouble()
        a.heartRateSum = try r.readDouble()
        a.heartRateCount = try r.readInt()
        a.heartRateMax = try r.readDouble()
        a.speedSum = try r.readDouble()
        a.speedCount = try r.readInt()
        a.cadenceSum = try r.readDouble()
        a.cadenceCount = try r.readInt()
        a.powerSum = try r.readDouble()
        a.powerCount = try r.readInt()
        a.firstTs = try r.readInt64()
        a.lastTs = try r.readInt64()
        let sport = try r.readString()
        a.sport = sport.isEmpty ? nil : sport
        a.sportTs = try r.readInt64()
        return a
    }
}
