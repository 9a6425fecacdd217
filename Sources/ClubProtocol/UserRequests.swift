import JSON

/// `devices`: a user's devices.
public struct DevicesRequest: Request, Equatable {
    public static let op = Op.devices
    public var user: String
    public init(user: String) { self.user = user }
    public init(request: JSONObject) throws(CommandError) { user = try RequestReader(request).user() }
    public func writeMembers(into w: inout JSONWriter) { w.member("user", user) }
}

/// `gear`: a user's equipment and its mileage.
public struct GearRequest: Request, Equatable {
    public static let op = Op.gear
    public var user: String
    public init(user: String) { self.user = user }
    public init(request: JSONObject) throws(CommandError) { user = try RequestReader(request).user() }
    public func writeMembers(into w: inout JSONWriter) { w.member("user", user) }
}

/// `history`: a user's telemetry history in [`from`, `to`) at one resolution (`sample`,
/// `minute`, `day`; default `minute`), at most `limit` points (1…100,000, default 10,000),
/// oldest first.
public struct HistoryRequest: Request, Equatable {
    public static let op = Op.history
    public static let resolutions = ["sample", "minute", "day"]
    public static let limits = 1...100_000
    public var range: UserRangeRequest
    public var resolution: String
    public var limit: Int

    public init(user: String, from: Int64? = nil, to: Int64? = nil, resolution: String = "minute", limit: Int = 10_000) {
        range = UserRangeRequest(user: user, from: from, to: to)
        self.resolution = resolution
        self.limit = limit
    }

    public init(request: JSONObject) throws(CommandError) {
        range = try UserRangeRequest(request)
        let r = RequestReader(request)
        resolution = try r.optionalString("resolution") ?? "minute"
        guard Self.resolutions.contains(resolution) else {
            throw CommandError(
                "unknown_resolution", "resolution '\(resolution.prefix(40))' is none of \(Self.resolutions.joined(separator: ", "))")
        }
        limit = try r.int("limit", in: Self.limits) ?? 10_000
        if let from = range.from, let to = range.to, to < from {
            throw CommandError("bad_range", "'to' (\(to)) is before 'from' (\(from))")
        }
    }

    public func writeMembers(into w: inout JSONWriter) {
        range.write(into: &w)
        w.member("resolution", resolution)
        w.member("limit", limit)
    }
}
