import JSON

/// A workout as `workouts` lists it and `import` returns it.
public struct WorkoutSummary: Sendable, Equatable {
    public var id: String
    public var source: String
    public var sport: String
    /// Epoch ms.
    public var start: Int
    public var durationSeconds: Double
    public var movingSeconds: Double
    public var distanceMeters: Double
    public var averageHeartRate: Double?
    public var maxHeartRate: Double?
    public var elevationGainMeters: Double
    /// Telemetry samples behind it, where known.
    public var samples: Int?
    /// Whether the Training subsystem counts it (false for a recognised copy of another); nil
    /// while the training stage has not applied it yet.
    public var counted: Bool?
    /// For `import`: the same file was imported before.
    public var duplicate: Bool?

    public init(
        id: String, source: String, sport: String, start: Int, durationSeconds: Double, movingSeconds: Double,
        distanceMeters: Double, averageHeartRate: Double?, maxHeartRate: Double?, elevationGainMeters: Double, samples: Int?,
        counted: Bool?, duplicate: Bool? = nil
    ) {
        self.id = id
        self.source = source
        self.sport = sport
        self.start = start
        self.durationSeconds = durationSeconds
        self.movingSeconds = movingSeconds
        self.distanceMeters = distanceMeters
        self.averageHeartRate = averageHeartRate
        self.maxHeartRate = maxHeartRate
        self.elevationGainMeters = elevationGainMeters
        self.samples = samples
        self.counted = counted
        self.duplicate = duplicate
    }

    public func write(into w: inout JSONWriter) {
        func optional(_ key: String, _ value: Double?) {
            w.key(key)
            if let value { w.value(value) } else { w.null() }
        }
        w.beginObject()
        w.member("id", id)
        w.member("source", source)
        w.member("sport", sport)
        w.member("start", start)
        w.member("duration_s", durationSeconds)
        w.member("moving_time_s", movingSeconds)
        w.member("distance_m", (distanceMeters * 100).rounded() / 100)
        optional("avg_hr", averageHeartRate)
        optional("max_hr", maxHeartRate)
        w.member("elevation_gain_m", (elevationGainMeters * 100).rounded() / 100)
        w.key("samples")
        if let samples { w.value(samples) } else { w.null() }
        w.key("counted")
        if let counted { w.value(counted) } else { w.null() }
        if let duplicate { w.member("duplicate", duplicate) }
        w.endObject()
    }

    /// Writes `workouts` as the array a reply carries under `key`.
    static func write(_ workouts: [WorkoutSummary], as key: String, into w: inout JSONWriter) {
        w.key(key)
        w.beginArray()
        for workout in workouts { workout.write(into: &w) }
        w.endArray()
    }

    /// Reads the array a reply carries under `key`.
    static func read(_ key: String, of reply: JSONValue) throws(CommandError) -> [WorkoutSummary] {
        var workouts: [WorkoutSummary] = []
        for value in try ReplyReader(value: reply).array(key) { workouts.append(try WorkoutSummary(reading: value)) }
        return workouts
    }

    init(reading value: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: value)
        self.init(
            id: try r.string("id"), source: try r.string("source"), sport: try r.string("sport"), start: try r.int("start"),
            durationSeconds: try r.double("duration_s"), movingSeconds: try r.double("moving_time_s"),
            distanceMeters: try r.double("distance_m"), averageHeartRate: value["avg_hr"]?.doubleValue,
            maxHeartRate: value["max_hr"]?.doubleValue, elevationGainMeters: try r.double("elevation_gain_m"),
            samples: value["samples"]?.int64Value.map { Int($0) }, counted: value["counted"]?.boolValue,
            duplicate: value["duplicate"]?.boolValue)
    }
}

/// The `workouts` reply: a user's workouts in start order.
public struct WorkoutsReply: Reply, Equatable {
    public var user: String
    public var workouts: [WorkoutSummary]

    public init(user: String, workouts: [WorkoutSummary]) {
        self.user = user
        self.workouts = workouts
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        WorkoutSummary.write(workouts, as: "workouts", into: &w)
    }

    public init(reply: JSONValue) throws(CommandError) {
        user = try ReplyReader(value: reply).string("user")
        workouts = try WorkoutSummary.read("workouts", of: reply)
    }
}

/// The `import` reply: the workouts a file held, and how many telemetry samples it gave.
public struct ImportReply: Reply, Equatable {
    public var user: String
    public var samples: Int
    public var workouts: [WorkoutSummary]

    public init(user: String, samples: Int, workouts: [WorkoutSummary]) {
        self.user = user
        self.samples = samples
        self.workouts = workouts
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("samples", samples)
        WorkoutSummary.write(workouts, as: "workouts", into: &w)
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        samples = try r.int("samples")
        workouts = try WorkoutSummary.read("workouts", of: reply)
    }
}

/// The `forget_imports` reply: how many of the user's workout events from `system` were deleted.
public struct ForgetImportsReply: Reply, Equatable {
    public var user: String
    public var system: String
    public var deleted: Int

    public init(user: String, system: String, deleted: Int) {
        self.user = user
        self.system = system
        self.deleted = deleted
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("system", system)
        w.member("deleted", deleted)
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        system = try r.string("system")
        deleted = try r.int("deleted")
    }
}

/// The `reload` reply: what changed, and how many rules and boards now run.
public struct ReloadReply: Reply, Equatable {
    public var reloaded: [String]

    public init(reloaded: [String]) { self.reloaded = reloaded }

    public func writeMembers(into w: inout JSONWriter) { w.member("reloaded", reloaded) }

    public init(reply: JSONValue) throws(CommandError) {
        reloaded = try ReplyReader(value: reply).array("reloaded").compactMap(\.stringValue)
    }
}
