import Events
import JSON

/// `devices`: a user's devices in registration order.
public struct DevicesReply: Reply, Equatable {
    public struct Device: Sendable, Equatable {
        public var device: String
        public var kind: String
        public var registeredAt: Int
        public var retired: Bool
        public init(device: String, kind: String, registeredAt: Int, retired: Bool) {
            self.device = device
            self.kind = kind
            self.registeredAt = registeredAt
            self.retired = retired
        }
    }

    public var user: String
    public var devices: [Device]

    public init(user: String, devices: [Device]) {
        self.user = user
        self.devices = devices
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.key("devices")
        w.beginArray()
        for d in devices {
            w.beginObject()
            w.member("device", d.device)
            w.member("kind", d.kind)
            w.member("registered_at", d.registeredAt)
            w.member("retired", d.retired)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        var devices: [Device] = []
        for d in try r.array("devices") {
            let dr = ReplyReader(value: d)
            devices.append(
                Device(device: try dr.string("device"), kind: try dr.string("kind"), registeredAt: try dr.int("registered_at"), retired: d["retired"]?.boolValue ?? false))
        }
        self.devices = devices
    }
}

/// `gear`: a user's equipment in the order added, with what counted workouts put on it.
public struct GearReply: Reply, Equatable {
    public struct Item: Sendable, Equatable {
        public var gear: String
        public var kind: String
        public var title: String?
        public var sports: [String]
        public var distance: Double
        public var durationSeconds: Double
        public var workouts: Int
        public var retireAt: Double?
        public var retired: Bool

        public init(
            gear: String, kind: String, title: String?, sports: [String], distance: Double, durationSeconds: Double, workouts: Int,
            retireAt: Double?, retired: Bool
        ) {
            self.gear = gear
            self.kind = kind
            self.title = title
            self.sports = sports
            self.distance = distance
            self.durationSeconds = durationSeconds
            self.workouts = workouts
            self.retireAt = retireAt
            self.retired = retired
        }
    }

    public var user: String
    public var gear: [Item]

    public init(user: String, gear: [Item]) {
        self.user = user
        self.gear = gear
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.key("gear")
        w.beginArray()
        for g in gear {
            w.beginObject()
            w.member("gear", g.gear)
            w.member("kind", g.kind)
            w.key("title")
            if let title = g.title { w.value(title) } else { w.null() }
            w.member("sports", g.sports)
            w.member("distance_m", (g.distance * 10).rounded() / 10)
            w.member("duration_s", g.durationSeconds.rounded())
            w.member("workouts", g.workouts)
            w.key("retire_at_m")
            if let limit = g.retireAt { w.value(limit) } else { w.null() }
            w.member("retired", g.retired)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        var items: [Item] = []
        for g in try r.array("gear") {
            let gr = ReplyReader(value: g)
            items.append(
                Item(
                    gear: try gr.string("gear"), kind: try gr.string("kind"), title: gr.optionalString("title"),
                    sports: g["sports"]?.arrayValue?.compactMap(\.stringValue) ?? [], distance: try gr.double("distance_m"),
                    durationSeconds: try gr.double("duration_s"), workouts: try gr.int("workouts"), retireAt: g["retire_at_m"]?.doubleValue,
                    retired: g["retired"]?.boolValue ?? false))
        }
        gear = items
    }
}

/// `history`: points oldest first — raw samples (each a contract `telemetry` event: `type`,
/// `user`, `device`, `session`, `ts` and the measurements as sent) or minute / day rollups (`ts` = `start`, `end`, `samples`,
/// `distance_m`, `moving_time_s`, `avg_hr`, `max_hr`). `truncated` with `next_from` when
/// `limit` cut the answer: ask again from there.
public struct HistoryReply: Reply, Equatable {
    public struct Rollup: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public var samples: Int
        public var distance: Double
        public var movingTime: Double
        public var averageHeartRate: Double?
        public var maxHeartRate: Double?

        public init(start: Int, end: Int, samples: Int, distance: Double, movingTime: Double, averageHeartRate: Double?, maxHeartRate: Double?) {
            self.start = start
            self.end = end
            self.samples = samples
            self.distance = distance
            self.movingTime = movingTime
            self.averageHeartRate = averageHeartRate
            self.maxHeartRate = maxHeartRate
        }
    }

    public var user: String
    public var resolution: String
    public var samples: [TelemetrySample]
    public var rollups: [Rollup]
    /// The first point's time the next request should start from, when `limit` cut the answer.
    public var nextFrom: Int?

    public init(user: String, resolution: String, samples: [TelemetrySample] = [], rollups: [Rollup] = [], nextFrom: Int? = nil) {
        self.user = user
        self.resolution = resolution
        self.samples = samples
        self.rollups = rollups
        self.nextFrom = nextFrom
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("resolution", resolution)
        w.member("truncated", nextFrom != nil)
        if let nextFrom { w.member("next_from", nextFrom) }
        w.key("points")
        w.beginArray()
        for s in samples { s.write(to: &w) }
        for r in rollups {
            w.beginObject()
            w.member("ts", r.start)
            w.member("end", r.end)
            w.member("samples", r.samples)
            w.member("distance_m", (r.distance * 1000).rounded() / 1000)
            w.member("moving_time_s", r.movingTime)
            w.key("avg_hr")
            if let v = r.averageHeartRate { w.value((v * 1000).rounded() / 1000) } else { w.null() }
            w.key("max_hr")
            if let v = r.maxHeartRate { w.value(v) } else { w.null() }
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        user = try r.string("user")
        resolution = try r.string("resolution")
        nextFrom = reply["next_from"]?.int64Value.map { Int($0) }
        samples = []
        rollups = []
        for p in try r.array("points") {
            let pr = ReplyReader(value: p)
            if resolution == "sample" {
                guard let sample = TelemetrySample(written: p) else { throw ReplyReader.missing("points", "telemetry samples") }
                samples.append(sample)
            } else {
                rollups.append(
                    Rollup(
                        start: try pr.int("ts"), end: try pr.int("end"), samples: try pr.int("samples"), distance: try pr.double("distance_m"),
                        movingTime: try pr.double("moving_time_s"), averageHeartRate: p["avg_hr"]?.doubleValue, maxHeartRate: p["max_hr"]?.doubleValue))
            }
        }
    }
}
