import JSON

/// `exercises`: the catalogue's exercises, of one sport and/or category when given.
public struct ExercisesRequest: Request, Equatable {
    public static let op = Op.exercises
    public var sport: String?
    public var category: String?

    public init(sport: String? = nil, category: String? = nil) {
        self.sport = sport
        self.category = category
    }

    public init(request: JSONObject) throws(CommandError) {
        let r = RequestReader(request)
        sport = try r.optionalString("sport")
        category = try r.optionalString("category")
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.optionalMember("sport", sport)
        w.optionalMember("category", category)
    }
}

/// `programmes`: every programme of the catalogue, without its steps.
public struct ProgrammesRequest: Request, Equatable {
    public static let op = Op.programmes
    public init() {}
    public init(request: JSONObject) throws(CommandError) {}
    public func writeMembers(into w: inout JSONWriter) {}
}

/// `programme`: one programme with its steps and their exercises.
public struct ProgrammeRequest: Request, Equatable {
    public static let op = Op.programme
    public var programme: String
    public init(programme: String) { self.programme = programme }
    public init(request: JSONObject) throws(CommandError) { programme = try RequestReader(request).string("programme") }
    public func writeMembers(into w: inout JSONWriter) { w.member("programme", programme) }
}

/// `progress`: a user's enrolments and the state of each step.
public struct ProgressRequest: Request, Equatable {
    public static let op = Op.progress
    public var user: String
    public init(user: String) { self.user = user }
    public init(request: JSONObject) throws(CommandError) { user = try RequestReader(request).user() }
    public func writeMembers(into w: inout JSONWriter) { w.member("user", user) }
}
