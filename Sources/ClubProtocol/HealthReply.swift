import JSON

/// The `health` reply: the contract's `status`, `version`, `uptime_s`, and how far each part
/// has come — the pipelines' figures and, per stage, its offset, lag and state.
public struct HealthReply: Reply, Equatable {
    /// One stage as `health` reports it under `stages`.
    public struct Stage: Sendable, Equatable {
        public var name: String
        public var offset: Int
        public var lag: Int
        /// `running`, `retrying` or `stopped`.
        public var state: String
        public var lastError: String?
        public var failures: Int

        public init(name: String, offset: Int, lag: Int, state: String, lastError: String?, failures: Int) {
            self.name = name
            self.offset = offset
            self.lag = lag
            self.state = state
            self.lastError = lastError
            self.failures = failures
        }
    }

    public var status = "ok"
    public var version: String
    public var uptimeSeconds: Double
    public var pipelines: [String]
    public var users: Int
    public var openWindows: Int
    public var inboxDepth: Int
    public var samplesProcessed: Int
    public var journalPosition: Int
    public var lastSnapshotAt: Int
    public var bonusOffset: Int
    public var bonusProcessed: Int
    public var offersOffset: Int
    public var trainingOffset: Int
    public var stages: [Stage]
    /// **(extension)** `storage`: the engine and where its state is; nil from a daemon that does not say.
    public var storage: Storage?

    /// Which engine keeps the daemon's state, and where.
    public struct Storage: Sendable, Equatable {
        /// `sqlite` or `postgres`.
        public var engine: String
        /// The main file's path, or the server's URI without its password.
        public var location: String
        /// PostgreSQL: the instance answering (the lease's holder: a standby relays) and its
        /// fencing token.
        public var instance: String?
        public var leaseToken: Int?
        /// PostgreSQL: every instance on the database seen within three leases (the holder and
        /// its standbys), as of the holder's last renewal.
        public var instances: [Instance] = []

        public struct Instance: Sendable, Equatable {
            public var instance: String
            public var role: String
            public var seenMillisAgo: Int

            public init(instance: String, role: String, seenMillisAgo: Int) {
                self.instance = instance
                self.role = role
                self.seenMillisAgo = seenMillisAgo
            }
        }

        public init(engine: String, location: String, instance: String? = nil, leaseToken: Int? = nil) {
            self.engine = engine
            self.location = location
            self.instance = instance
            self.leaseToken = leaseToken
        }
    }

    public init(
        version: String, uptimeSeconds: Double, pipelines: [String], users: Int, openWindows: Int, inboxDepth: Int,
        samplesProcessed: Int, journalPosition: Int, lastSnapshotAt: Int, bonusOffset: Int, bonusProcessed: Int, offersOffset: Int,
        trainingOffset: Int, stages: [Stage]
    ) {
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.pipelines = pipelines
        self.users = users
        self.openWindows = openWindows
        self.inboxDepth = inboxDepth
        self.samplesProcessed = samplesProcessed
        self.journalPosition = journalPosition
        self.lastSnapshotAt = lastSnapshotAt
        self.bonusOffset = bonusOffset
        self.bonusProcessed = bonusProcessed
        self.offersOffset = offersOffset
        self.trainingOffset = trainingOffset
        self.stages = stages
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("status", status)
        w.member("version", version)
        w.member("uptime_s", uptimeSeconds)
        w.member("pipelines", pipelines)
        w.member("users", users)
        w.member("open_windows", openWindows)
        w.member("inbox_depth", inboxDepth)
        w.member("samples_processed", samplesProcessed)
        w.member("journal_position", journalPosition)
        w.member("last_snapshot_at", lastSnapshotAt)
        w.member("bonus_offset", bonusOffset)
        w.member("bonus_processed", bonusProcessed)
        w.member("offers_offset", offersOffset)
        w.member("training_offset", trainingOffset)
        if let storage {
            w.key("storage")
            w.beginObject()
            w.member("engine", storage.engine)
            w.member("location", storage.location)
            if let instance = storage.instance { w.member("instance", instance) }
            if let token = storage.leaseToken { w.member("lease_token", token) }
            if !storage.instances.isEmpty {
                w.key("instances")
                w.beginArray()
                for i in storage.instances {
                    w.beginObject()
                    w.member("instance", i.instance)
                    w.member("role", i.role)
                    w.member("seen_ms_ago", i.seenMillisAgo)
                    w.endObject()
                }
                w.endArray()
            }
            w.endObject()
        }
        w.key("stages")
        w.beginObject()
        for stage in stages {
            w.key(stage.name)
            w.beginObject()
            w.member("offset", stage.offset)
            w.member("lag", stage.lag)
            w.member("state", stage.state)
            w.key("last_error")
            if let error = stage.lastError { w.value(error) } else { w.null() }
            w.member("failures", stage.failures)
            w.endObject()
        }
        w.endObject()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        status = try r.string("status")
        version = try r.string("version")
        uptimeSeconds = try r.double("uptime_s")
        pipelines = try r.array("pipelines").compactMap(\.stringValue)
        users = try r.int("users")
        openWindows = try r.int("open_windows")
        inboxDepth = try r.int("inbox_depth")
        samplesProcessed = try r.int("samples_processed")
        journalPosition = try r.int("journal_position")
        lastSnapshotAt = try r.int("last_snapshot_at")
        bonusOffset = try r.int("bonus_offset")
        bonusProcessed = try r.int("bonus_processed")
        offersOffset = try r.int("offers_offset")
        trainingOffset = try r.int("training_offset")
        if let engine = reply["storage"]?["engine"]?.stringValue, let location = reply["storage"]?["location"]?.stringValue {
            storage = Storage(
                engine: engine, location: location, instance: reply["storage"]?["instance"]?.stringValue,
                leaseToken: reply["storage"]?["lease_token"]?.int64Value.map { Int($0) })
            storage?.instances = (reply["storage"]?["instances"]?.arrayValue ?? []).compactMap { i in
                guard let name = i["instance"]?.stringValue, let role = i["role"]?.stringValue, let ago = i["seen_ms_ago"]?.int64Value else { return nil }
                return Storage.Instance(instance: name, role: role, seenMillisAgo: Int(ago))
            }
        }
        stages = []
        for (name, value) in try r.object("stages").members {
            let s = ReplyReader(value: value)
            stages.append(
                Stage(
                    name: name, offset: try s.int("offset"), lag: try s.int("lag"), state: try s.string("state"),
                    lastError: s.optionalString("last_error"), failures: try s.int("failures")))
        }
    }
}
