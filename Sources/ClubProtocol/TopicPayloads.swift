import JSON

/// A payload published on the PUB socket: the members a stage writes; the publisher adds
/// `topic`, `seq` and `at`. Each payload type writes itself (the stages) and reads itself back
/// (subscribers), so the contract's fields are stated once.
public protocol TopicPayload: Sendable {
    func writeMembers(into w: inout JSONWriter)
    init(payload: JSONValue) throws(CommandError)
}

extension TopicPayload {
    /// The serialized members, as `Publisher.Message` carries them.
    public var members: [UInt8] {
        var w = JSONWriter()
        writeMembers(into: &w)
        return w.bytes
    }
}

/// `rejected`: an ingest frame, a submitted event or an event of the log was refused.
public struct RejectedPayload: TopicPayload, Equatable {
    /// The reason code (docs/protocol.md).
    public var code: String
    public var message: String
    /// `ingest`, `submit`, `import`, `bonus` or `training`.
    public var source: String
    /// The element of a batch, when it applies.
    public var index: Int?
    /// The first bytes of what was refused (ingest and submit).
    public var excerpt: String?
    /// The refused event's id (refusals of the log's consumers).
    public var event: String?

    public init(code: String, message: String, source: String, index: Int? = nil, excerpt: String? = nil, event: String? = nil) {
        self.code = code
        self.message = message
        self.source = source
        self.index = index
        self.excerpt = excerpt
        self.event = event
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("code", code)
        w.member("message", message)
        w.member("source", source)
        if let index { w.member("index", index) }
        w.optionalMember("excerpt", excerpt)
        w.optionalMember("event", event)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        code = try r.string("code")
        message = try r.string("message")
        source = try r.string("source")
        index = payload["index"]?.int64Value.map { Int($0) }
        excerpt = payload["excerpt"]?.stringValue
        event = payload["event"]?.stringValue
    }
}

/// `bonus.<user>`: a ledger entry with the new balance, or an event the bonus rules refused
/// (a spend beyond the balance) with the balance unchanged.
public struct BonusPayload: TopicPayload, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `rule`, `kind` (`award`, `spend`, `expiry`), `points`, `entry_at`.
        case entry(rule: String, kind: String, points: Int, entryAt: Int)
        /// `refused`: {`code`, `message`}.
        case refused(code: String, message: String)
    }

    public var user: String
    public var event: String
    public var kind: Kind
    public var balance: Int

    public init(user: String, event: String, kind: Kind, balance: Int) {
        self.user = user
        self.event = event
        self.kind = kind
        self.balance = balance
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("event", event)
        switch kind {
        case .entry(let rule, let kind, let points, let entryAt):
            w.member("rule", rule)
            w.member("kind", kind)
            w.member("points", points)
            w.member("entry_at", entryAt)
        case .refused(let code, let message):
            w.key("refused")
            w.beginObject()
            w.member("code", code)
            w.member("message", message)
            w.endObject()
        }
        w.member("balance", balance)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        user = try r.string("user")
        event = try r.string("event")
        balance = try r.int("balance")
        if let refused = payload["refused"] {
            let f = ReplyReader(value: refused)
            kind = .refused(code: try f.string("code"), message: try f.string("message"))
        } else {
            kind = .entry(rule: try r.string("rule"), kind: try r.string("kind"), points: try r.int("points"), entryAt: try r.int("entry_at"))
        }
    }
}

/// `activity.<type>`: an event accepted into the activity log, at its offset, as it was received.
public struct ActivityPayload: TopicPayload, Equatable {
    public var offset: Int
    /// The event's JSON, unknown fields included.
    public var event: [UInt8]

    public init(offset: Int, event: [UInt8]) {
        self.offset = offset
        self.event = event
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("offset", offset)
        w.key("event")
        w.raw(event)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        offset = try r.int("offset")
        guard let event = payload["event"], case .object = event else { throw ReplyReader.missing("event", "an object") }
        self.event = event.serialized()
    }
}

/// `late`: a telemetry sample arrived after its windows had closed for good.
public struct LatePayload: TopicPayload, Equatable {
    public var message: String
    public var pipeline: String
    public var user: String
    public var device: String
    public var session: String
    /// The sample's event time, epoch ms.
    public var ts: Int
    /// The watermark minus the allowed lateness when it arrived, epoch ms.
    public var horizon: Int

    public init(message: String, pipeline: String, user: String, device: String, session: String, ts: Int, horizon: Int) {
        self.message = message
        self.pipeline = pipeline
        self.user = user
        self.device = device
        self.session = session
        self.ts = ts
        self.horizon = horizon
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("code", "late")
        w.member("message", message)
        w.member("pipeline", pipeline)
        w.member("user", user)
        w.member("device", device)
        w.member("session", session)
        w.member("ts", ts)
        w.member("horizon", horizon)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        message = try r.string("message")
        pipeline = try r.string("pipeline")
        user = try r.string("user")
        device = try r.string("device")
        session = try r.string("session")
        ts = try r.int("ts")
        horizon = try r.int("horizon")
    }
}

/// `comparison.<user>`: a counted workout compared with its cohort (also the body of the
/// `training.compared` activity event). Seconds are to the millisecond; absent ones are null.
public struct ComparisonPayload: TopicPayload, Equatable {
    public var user: String
    public var workout: String
    public var sport: String
    /// The distance band, such as `5k`.
    public var band: String
    /// `all`, or the user's region.
    public var scope: String
    public var start: Int
    public var distanceMeters: Double
    public var resultSeconds: Double
    public var rank: Int
    public var cohortSize: Int
    public var percentile: Double
    public var cohortMedianSeconds: Double?
    public var cohortBestSeconds: Double?
    /// The median is exact (a small cohort) rather than read from histograms.
    public var exact: Bool
    public var personalBestSeconds: Double?

    public init(
        user: String, workout: String, sport: String, band: String, scope: String, start: Int, distanceMeters: Double,
        resultSeconds: Double, rank: Int, cohortSize: Int, percentile: Double, cohortMedianSeconds: Double?,
        cohortBestSeconds: Double?, exact: Bool, personalBestSeconds: Double?
    ) {
        self.user = user
        self.workout = workout
        self.sport = sport
        self.band = band
        self.scope = scope
        self.start = start
        self.distanceMeters = distanceMeters
        self.resultSeconds = resultSeconds
        self.rank = rank
        self.cohortSize = cohortSize
        self.percentile = percentile
        self.cohortMedianSeconds = cohortMedianSeconds
        self.cohortBestSeconds = cohortBestSeconds
        self.exact = exact
        self.personalBestSeconds = personalBestSeconds
    }

    /// The difference to the personal best before this workout (negative: faster).
    public var differenceSeconds: Double? { personalBestSeconds.map { resultSeconds - $0 } }

    public func writeMembers(into w: inout JSONWriter) {
        func seconds(_ key: String, _ value: Double?) {
            w.key(key)
            if let value { w.value((value * 1000).rounded() / 1000) } else { w.null() }
        }
        w.member("user", user)
        w.member("workout", workout)
        w.member("sport", sport)
        w.member("band", band)
        w.member("scope", scope)
        w.member("start", start)
        w.member("distance_m", distanceMeters)
        seconds("result_s", resultSeconds)
        w.member("rank", rank)
        w.member("cohort_size", cohortSize)
        w.member("percentile", percentile)
        seconds("cohort_median_s", cohortMedianSeconds)
        seconds("cohort_best_s", cohortBestSeconds)
        w.member("exact", exact)
        seconds("personal_best_s", personalBestSeconds)
        seconds("difference_s", differenceSeconds)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        self.init(
            user: try r.string("user"), workout: try r.string("workout"), sport: try r.string("sport"), band: try r.string("band"),
            scope: try r.string("scope"), start: try r.int("start"), distanceMeters: try r.double("distance_m"),
            resultSeconds: try r.double("result_s"), rank: try r.int("rank"), cohortSize: try r.int("cohort_size"),
            percentile: try r.double("percentile"), cohortMedianSeconds: payload["cohort_median_s"]?.doubleValue,
            cohortBestSeconds: payload["cohort_best_s"]?.doubleValue, exact: payload["exact"]?.boolValue ?? false,
            personalBestSeconds: payload["personal_best_s"]?.doubleValue)
    }
}

/// `leaderboard.<board>`: a board's top entries changed (coalesced), or its period ended
/// (`final`); `moved` lists the entries whose rank changed since the last publication.
public struct LeaderboardPayload: TopicPayload, Equatable {
    public struct Move: Sendable, Equatable {
        public var user: String
        public var rank: Int
        /// Nil for a user new to the top entries.
        public var previousRank: Int?

        public init(user: String, rank: Int, previousRank: Int?) {
            self.user = user
            self.rank = rank
            self.previousRank = previousRank
        }
    }

    /// The board as a `leaderboard` query answers it (without a user's own line).
    public var board: LeaderboardReply
    public var final: Bool
    public var moved: [Move]

    public init(board: LeaderboardReply, final: Bool, moved: [Move]) {
        self.board = board
        self.final = final
        self.moved = moved
    }

    public func writeMembers(into w: inout JSONWriter) {
        var board = self.board
        board.own = nil
        board.writeMembers(into: &w)
        w.member("final", final)
        w.key("moved")
        w.beginArray()
        for move in moved {
            w.beginObject()
            w.member("user", move.user)
            w.member("rank", move.rank)
            w.key("previous_rank")
            if let previous = move.previousRank { w.value(previous) } else { w.null() }
            w.endObject()
        }
        w.endArray()
    }

    public init(payload: JSONValue) throws(CommandError) {
        var object = payload.objectValue ?? JSONObject()
        object["user"] = nil
        board = try LeaderboardReply(reply: .object(object))
        final = payload["final"]?.boolValue ?? false
        moved = []
        for value in try ReplyReader(value: payload).array("moved") {
            let m = ReplyReader(value: value)
            moved.append(Move(user: try m.string("user"), rank: try m.int("rank"), previousRank: value["previous_rank"]?.int64Value.map { Int($0) }))
        }
    }
}

/// `window.<user>`: a window's aggregates when it closed (`update: false`), a correction of it
/// (`update: true`), or — in `stats` answers only — a window still open (`open: true`). Means and
/// sums are to the thousandth; means without a measurement are null.
public struct WindowPayload: TopicPayload, Equatable {
    public var pipeline: String
    /// `tumbling`, `hopping` or `session`.
    public var window: String
    public var user: String
    public var start: Int
    public var end: Int
    public var update: Bool
    public var open: Bool
    public var sport: String?
    public var samples: Int
    public var distance: Double
    public var movingTime: Double
    public var averageHeartRate: Double?
    public var maxHeartRate: Double?
    public var averageSpeed: Double?
    public var elevationGain: Double
    public var averageCadence: Double?
    public var averagePower: Double?
    public var firstTs: Int
    public var lastTs: Int

    public init(
        pipeline: String, window: String, user: String, start: Int, end: Int, update: Bool, open: Bool = false, sport: String?,
        samples: Int, distance: Double, movingTime: Double, averageHeartRate: Double?, maxHeartRate: Double?, averageSpeed: Double?,
        elevationGain: Double, averageCadence: Double?, averagePower: Double?, firstTs: Int, lastTs: Int
    ) {
        self.pipeline = pipeline
        self.window = window
        self.user = user
        self.start = start
        self.end = end
        self.update = update
        self.open = open
        self.sport = sport
        self.samples = samples
        self.distance = distance
        self.movingTime = movingTime
        self.averageHeartRate = averageHeartRate
        self.maxHeartRate = maxHeartRate
        self.averageSpeed = averageSpeed
        self.elevationGain = elevationGain
        self.averageCadence = averageCadence
        self.averagePower = averagePower
        self.firstTs = firstTs
        self.lastTs = lastTs
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("pipeline", pipeline)
        w.member("window", window)
        w.member("user", user)
        w.member("start", start)
        w.member("end", end)
        w.member("update", update)
        if open { w.member("open", true) }
        w.key("sport")
        if let sport { w.value(sport) } else { w.null() }
        w.member("samples", samples)
        w.member("distance_m", Self.thousandths(distance))
        w.member("moving_time_s", movingTime)
        Self.optional(&w, "avg_hr", averageHeartRate)
        Self.optional(&w, "max_hr", maxHeartRate)
        Self.optional(&w, "avg_speed_mps", averageSpeed)
        w.member("elevation_gain_m", Self.thousandths(elevationGain))
        Self.optional(&w, "avg_cadence", averageCadence)
        Self.optional(&w, "avg_power_w", averagePower)
        w.member("first_ts", firstTs)
        w.member("last_ts", lastTs)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        pipeline = try r.string("pipeline")
        window = try r.string("window")
        user = try r.string("user")
        start = try r.int("start")
        end = try r.int("end")
        update = payload["update"]?.boolValue ?? false
        open = payload["open"]?.boolValue ?? false
        sport = r.optionalString("sport")
        samples = try r.int("samples")
        distance = try r.double("distance_m")
        movingTime = try r.double("moving_time_s")
        averageHeartRate = payload["avg_hr"]?.doubleValue
        maxHeartRate = payload["max_hr"]?.doubleValue
        averageSpeed = payload["avg_speed_mps"]?.doubleValue
        elevationGain = try r.double("elevation_gain_m")
        averageCadence = payload["avg_cadence"]?.doubleValue
        averagePower = payload["avg_power_w"]?.doubleValue
        firstTs = try r.int("first_ts")
        lastTs = try r.int("last_ts")
    }

    static func thousandths(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    private static func optional(_ w: inout JSONWriter, _ key: String, _ value: Double?) {
        w.key(key)
        if let value { w.value(thousandths(value)) } else { w.null() }
    }
}

/// `offer.user.<user>`, `offer.region.<region>`, `offer.all`: an offer a rule issued (also what
/// the `offers` op lists and the `offers.changes` feed delivers). `user` for a targeted offer,
/// `region` for a regional one; discounts, categories and SKUs only where the rule gives them.
public struct OfferPayload: TopicPayload, Equatable {
    public var code: String
    public var rule: String
    public var title: String
    public var text: String
    public var discountPercent: Double?
    public var discountAmount: Double?
    public var categories: [String]
    public var skus: [String]
    /// `user`, `region` or `all`.
    public var audience: String
    public var user: String?
    public var region: String?
    /// The event id that issued it, or `schedule:<time>` for a campaign.
    public var trigger: String
    public var issuedAt: Int
    public var validUntil: Int

    public init(
        code: String, rule: String, title: String, text: String, discountPercent: Double?, discountAmount: Double?, categories: [String],
        skus: [String], audience: String, user: String?, region: String?, trigger: String, issuedAt: Int, validUntil: Int
    ) {
        self.code = code
        self.rule = rule
        self.title = title
        self.text = text
        self.discountPercent = discountPercent
        self.discountAmount = discountAmount
        self.categories = categories
        self.skus = skus
        self.audience = audience
        self.user = user
        self.region = region
        self.trigger = trigger
        self.issuedAt = issuedAt
        self.validUntil = validUntil
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("code", code)
        w.member("rule", rule)
        w.member("title", title)
        w.member("text", text)
        if let discountPercent { w.member("discount_percent", discountPercent) }
        if let discountAmount { w.member("discount_amount", discountAmount) }
        if !categories.isEmpty { w.member("categories", categories) }
        if !skus.isEmpty { w.member("skus", skus) }
        w.member("audience", audience)
        if let user { w.member("user", user) }
        if let region { w.member("region", region) }
        w.member("trigger", trigger)
        w.member("issued_at", issuedAt)
        w.member("valid_until", validUntil)
    }

    public init(payload: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: payload)
        code = try r.string("code")
        rule = try r.string("rule")
        title = try r.string("title")
        text = try r.string("text")
        discountPercent = payload["discount_percent"]?.doubleValue
        discountAmount = payload["discount_amount"]?.doubleValue
        categories = payload["categories"]?.arrayValue?.compactMap(\.stringValue) ?? []
        skus = payload["skus"]?.arrayValue?.compactMap(\.stringValue) ?? []
        audience = try r.string("audience")
        user = r.optionalString("user")
        region = r.optionalString("region")
        trigger = try r.string("trigger")
        issuedAt = try r.int("issued_at")
        validUntil = try r.int("valid_until")
    }
}
