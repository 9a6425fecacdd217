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
