import ClubKernel
import JSON

/// A request of the command socket: `{"op": …, …members}`. Each request type writes itself
/// (clients) and reads itself from a parsed request with the contract's validation (the
/// daemon), so a field's name, type and range are stated once.
public protocol Request: Sendable {
    static var op: Op { get }
    /// Writes the members after `"op"`.
    func writeMembers(into w: inout JSONWriter)
    /// Reads the request's fields.
    /// - Throws: ``CommandError`` — `missing_field` or `wrong_type`, naming the field.
    init(request: JSONObject) throws(CommandError)
}

extension Request {
    /// The whole request object.
    public var bytes: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("op", Self.op.rawValue)
        writeMembers(into: &w)
        w.endObject()
        return w.bytes
    }
}

/// Reading the fields of a request, each refusal naming the field.
public struct RequestReader {
    let object: JSONObject

    public init(_ object: JSONObject) { self.object = object }

    /// A required non-empty string.
    public func string(_ key: String) throws(CommandError) -> String {
        guard let value = object[key] else { throw .missingField(key) }
        guard let s = value.stringValue, !s.isEmpty else {
            throw .wrongType("field '\(key)' must be a non-empty string, not \(value.typeName)")
        }
        return s
    }

    /// An optional non-empty string.
    public func optionalString(_ key: String) throws(CommandError) -> String? {
        guard object[key] != nil else { return nil }
        return try string(key)
    }

    /// The user a request is about.
    public func user() throws(CommandError) -> String { try string("user") }

    /// An optional time: integer epoch milliseconds or an RFC 3339 string, as in events.
    public func millis(_ key: String) throws(CommandError) -> Int64? {
        guard let value = object[key] else { return nil }
        guard let ms = EventTime.millis(value) else {
            throw .wrongType("field '\(key)' must be integer epoch milliseconds or an RFC 3339 time such as 2026-11-27T10:00:00Z")
        }
        return ms
    }

    /// An optional integer in `range`.
    public func int(_ key: String, in range: ClosedRange<Int>) throws(CommandError) -> Int? {
        guard let value = object[key] else { return nil }
        guard let n = value.int64Value, range.contains(Int(n)) else {
            throw .wrongType("field '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(n)
    }
}

extension JSONWriter {
    mutating func optionalMember(_ key: String, _ value: String?) { if let value { member(key, value) } }
    mutating func optionalMember(_ key: String, _ value: Int64?) { if let value { member(key, Int(value)) } }
}

/// `health`: no fields.
public struct HealthRequest: Request, Equatable {
    public static let op = Op.health
    public init() {}
    public init(request: JSONObject) throws(CommandError) {}
    public func writeMembers(into w: inout JSONWriter) {}
}

/// `balance`: a user's points.
public struct BalanceRequest: Request, Equatable {
    public static let op = Op.balance
    public var user: String
    public init(user: String) { self.user = user }
    public init(request: JSONObject) throws(CommandError) { user = try RequestReader(request).user() }
    public func writeMembers(into w: inout JSONWriter) { w.member("user", user) }
}

/// `ledger`: the newest `limit` entries (1…100,000, default 1,000) of a user's ledger.
public struct LedgerRequest: Request, Equatable {
    public static let op = Op.ledger
    public static let limits = 1...100_000
    public var user: String
    public var limit: Int

    public init(user: String, limit: Int = 1000) {
        self.user = user
        self.limit = limit
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        user = try r.user()
        limit = try r.int("limit", in: Self.limits) ?? 1000
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("limit", limit)
    }
}

/// A user and an optional range [`from`, `to`) of epoch ms: `stats` and `workouts`.
public struct UserRangeRequest: Sendable, Equatable {
    public var user: String
    public var from: Int64?
    public var to: Int64?

    public init(user: String, from: Int64? = nil, to: Int64? = nil) {
        self.user = user
        self.from = from
        self.to = to
    }

    init(_ request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        user = try r.user()
        from = try r.millis("from")
        to = try r.millis("to")
    }

    func write(into w: inout JSONWriter) {
        w.member("user", user)
        w.optionalMember("from", from)
        w.optionalMember("to", to)
    }

    /// The range with open ends made wide (the store's queries take numbers).
    public var bounds: (from: Int64, to: Int64) { (from ?? Int64.min / 4, to ?? Int64.max / 4) }
}

/// `stats`: a user's window aggregates overlapping the range.
public struct StatsRequest: Request, Equatable {
    public static let op = Op.stats
    public var range: UserRangeRequest
    public init(user: String, from: Int64? = nil, to: Int64? = nil) { range = UserRangeRequest(user: user, from: from, to: to) }
    public init(request: JSONObject) throws(CommandError) { range = try UserRangeRequest(request) }
    public func writeMembers(into w: inout JSONWriter) { range.write(into: &w) }
}

/// `workouts`: a user's workouts starting in the range.
public struct WorkoutsRequest: Request, Equatable {
    public static let op = Op.workouts
    public var range: UserRangeRequest
    public init(user: String, from: Int64? = nil, to: Int64? = nil) { range = UserRangeRequest(user: user, from: from, to: to) }
    public init(request: JSONObject) throws(CommandError) { range = try UserRangeRequest(request) }
    public func writeMembers(into w: inout JSONWriter) { range.write(into: &w) }
}

/// `leaderboard`: a board's top entries in a period (the current one by default), per region
/// for boards ranked per region, per group for boards ranked per group, and with `user` that
/// user's own line.
public struct LeaderboardRequest: Request, Equatable {
    public static let op = Op.leaderboard
    public var board: String
    public var period: String?
    public var region: String?
    public var group: String?
    public var user: String?

    public init(board: String, period: String? = nil, region: String? = nil, group: String? = nil, user: String? = nil) {
        self.board = board
        self.period = period
        self.region = region
        self.group = group
        self.user = user
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        // Every present field is checked, as before the board: a wrong type is named first.
        period = try r.optionalString("period")
        region = try r.optionalString("region")
        group = try r.optionalString("group")
        user = try r.optionalString("user")
        board = try r.string("board")
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("board", board)
        w.optionalMember("period", period)
        w.optionalMember("region", region)
        w.optionalMember("group", group)
        w.optionalMember("user", user)
    }
}

/// `offers`: the offers valid now for a user.
public struct OffersRequest: Request, Equatable {
    public static let op = Op.offers
    public var user: String
    public init(user: String) { self.user = user }
    public init(request: JSONObject) throws(CommandError) { user = try RequestReader(request).user() }
    public func writeMembers(into w: inout JSONWriter) { w.member("user", user) }
}

/// `import`: a workout file for a user from an external system, base64-encoded.
public struct ImportRequest: Request, Equatable {
    public static let op = Op.import
    public var user: String
    public var system: String
    /// `fit`, `gpx` or `tcx`.
    public var format: String
    public var dataBase64: String
    public var sport: String?

    public init(user: String, system: String, format: String, dataBase64: String, sport: String? = nil) {
        self.user = user
        self.system = system
        self.format = format
        self.dataBase64 = dataBase64
        self.sport = sport
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        user = try r.user()
        guard let system = request["system"]?.stringValue, !system.isEmpty, system.count <= 64 else {
            throw CommandError("missing_field", "field 'system' must name the external system, such as garmin or strava")
        }
        self.system = system
        guard let format = request["format"]?.stringValue else { throw .wrongType("field 'format' must be fit, gpx or tcx") }
        self.format = format
        guard let data = request["data_base64"]?.stringValue else {
            throw .wrongType("field 'data_base64' must hold the file, base64-encoded")
        }
        dataBase64 = data
        sport = request["sport"]?.stringValue
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("system", system)
        w.member("format", format)
        w.optionalMember("sport", sport)
        w.member("data_base64", dataBase64)
    }
}

/// `forget_imports`: a user's workouts imported from a system leave the club.
public struct ForgetImportsRequest: Request, Equatable {
    public static let op = Op.forgetImports
    public var user: String
    public var system: String

    public init(user: String, system: String) {
        self.user = user
        self.system = system
    }

    public init(request: JSONObject) throws(CommandError) {
        user = try RequestReader(request).user()
        guard let system = request["system"]?.stringValue, !system.isEmpty else {
            throw CommandError("missing_field", "field 'system' must name the external system whose imports are deleted")
        }
        self.system = system
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("user", user)
        w.member("system", system)
    }
}

/// `reload`: re-read every definition file.
public struct ReloadRequest: Request, Equatable {
    public static let op = Op.reload
    public init() {}
    public init(request: JSONObject) throws(CommandError) {}
    public func writeMembers(into w: inout JSONWriter) {}
}

/// `snapshot`: take a snapshot of the telemetry state now.
public struct SnapshotRequest: Request, Equatable {
    public static let op = Op.snapshot
    public init() {}
    public init(request: JSONObject) throws(CommandError) {}
    public func writeMembers(into w: inout JSONWriter) {}
}
