import ClubKernel
import JSON

/// The fields of the Community subsystem's client events, checked at the door (whether the
/// group exists, who may do what, is decided in log order by the community's admission gate).
extension EventDecoder {
    /// The community event types clients send, each with its required id fields.
    public static let communityTypes: [String: [String]] = [
        "group.created": ["group"], "group.joined": ["group"], "group.left": ["group"], "group.closed": ["group"],
        "session.scheduled": ["session", "group"], "session.cancelled": ["session"], "session.rsvp": ["session"],
        "session.checked_in": ["session", "member"], "discussion.posted": ["group", "post"], "discussion.hidden": ["group", "post"],
        "competition.created": ["competition"], "competition.joined": ["competition"],
    ]

    /// The areas whose every type is defined by the contract: another action is refused.
    static let communityAreas: Set<String> = ["group", "session", "discussion", "competition"]

    /// Longest post, in characters (the contract: 1–2000).
    public static let longestPost = 2000
    /// Longest group title and interest list.
    static let longestTitle = 200
    static let mostInterests = 32

    static func checkCommunity(type: String, body: JSONObject, now: Int64) -> FieldError? {
        guard let ids = communityTypes[type] else {
            let area = type.split(separator: ".").first.map(String.init) ?? ""
            guard communityAreas.contains(area) else { return nil }
            let known = communityTypes.keys.filter { $0.hasPrefix(area + ".") }.sorted()
            return FieldError(.unsupportedType, "unknown \(area) event '\(type)': expected \(known.joined(separator: ", "))")
        }
        for field in ids {
            guard let value = body[field] else { return FieldError(.missingField, "missing required field '\(field)'") }
            guard let id = value.stringValue else { return FieldError(.wrongType, "field '\(field)' must be a string, not \(value.typeName)") }
            if let error = checkID(id, field: field) { return error }
        }
        switch type {
        case "group.created": return checkGroup(body)
        case "session.scheduled": return checkSession(body, now: now)
        case "competition.created": return checkCompetition(body, now: now)
        case "session.rsvp":
            guard let going = body["going"] else { return FieldError(.missingField, "missing required field 'going' (true or false)") }
            guard going.boolValue != nil else { return FieldError(.wrongType, "field 'going' must be true or false, not \(going.typeName)") }
        case "discussion.posted":
            guard let text = body["text"] else { return FieldError(.missingField, "missing required field 'text'") }
            guard let string = text.stringValue else { return FieldError(.wrongType, "field 'text' must be a string, not \(text.typeName)") }
            let count = string.count
            guard count >= 1, count <= longestPost else {
                return FieldError(.outOfRange, "a post's 'text' holds 1 to \(longestPost) characters, not \(count)")
            }
            if let reply = body["reply_to"] {
                guard let id = reply.stringValue else { return FieldError(.wrongType, "field 'reply_to' must be a post id, not \(reply.typeName)") }
                if let error = checkID(id, field: "reply_to") { return error }
            }
        default: break
        }
        return nil
    }

    private static func checkGroup(_ body: JSONObject) -> FieldError? {
        guard let kind = body["kind"]?.stringValue else { return FieldError(.missingField, "missing required field 'kind' (joint, coached or interest)") }
        guard ["joint", "coached", "interest"].contains(kind) else {
            return FieldError(.outOfRange, "a group's 'kind' is joint, coached or interest, not '\(kind.prefix(40))'")
        }
        guard let title = body["title"] else { return FieldError(.missingField, "missing required field 'title'") }
        guard let text = title.stringValue, !text.isEmpty, text.count <= longestTitle else {
            return FieldError(.outOfRange, "a group's 'title' is a string of 1 to \(longestTitle) characters")
        }
        if let interests = body["interests"] {
            guard let list = interests.arrayValue, list.count <= mostInterests,
                list.allSatisfy({ $0.stringValue.map { !$0.isEmpty && $0.count <= 64 } ?? false })
            else { return FieldError(.wrongType, "'interests' is a list of at most \(mostInterests) words of 1 to 64 characters") }
        }
        if let region = body["region"], region.stringValue.map({ $0.isEmpty || $0.count > 64 }) ?? true {
            return FieldError(.wrongType, "'region' is a region code such as RU-MOW")
        }
        if let coach = body["coach"] {
            guard let id = coach.stringValue else { return FieldError(.wrongType, "field 'coach' must be a user id, not \(coach.typeName)") }
            if let error = checkID(id, field: "coach") { return error }
        } else if kind == "coached" {
            return FieldError(.missingField, "a coached group needs 'coach' (a user id)")
        }
        return nil
    }

    /// The metrics a competition may total or take the longest of.
    static let competitionMetrics: Set<String> = ["distance", "duration", "moving_time", "workouts", "elevation_gain"]
    /// Longest a competition may run, and its longest grace.
    static let longestCompetition: Int64 = 366 * 86_400_000
    static let longestGrace = 30 * 86_400.0

    private static func checkCompetition(_ body: JSONObject, now: Int64) -> FieldError? {
        guard let title = body["title"] else { return FieldError(.missingField, "missing required field 'title'") }
        guard let text = title.stringValue, !text.isEmpty, text.count <= longestTitle else {
            return FieldError(.outOfRange, "a competition's 'title' is a string of 1 to \(longestTitle) characters")
        }
        switch body["scope"] {
        case nil, .string("everyone")?: break
        case .object(let o)?:
            let keys = o.keys
            guard keys.count == 1, let key = keys.first, key == "group" || key == "region", let id = o[key]?.stringValue else {
                return FieldError(.wrongType, "'scope' is \"everyone\", {\"group\": id} or {\"region\": code}")
            }
            if key == "group", let error = checkID(id, field: "scope.group") { return error }
        default: return FieldError(.wrongType, "'scope' is \"everyone\", {\"group\": id} or {\"region\": code}")
        }
        guard let goal = body["goal"]?.stringValue else { return FieldError(.missingField, "missing required field 'goal' (total, fastest, longest or shared)") }
        guard ["total", "fastest", "longest", "shared"].contains(goal) else {
            return FieldError(.outOfRange, "a competition's 'goal' is total, fastest, longest or shared, not '\(goal.prefix(40))'")
        }
        if goal == "fastest" {
            guard let band = body["band"]?.arrayValue, band.count == 2, let low = band[0].doubleValue, let high = band[1].doubleValue,
                low >= 0, low <= high
            else { return FieldError(.missingField, "a 'fastest' competition needs 'band': [min_m, max_m], the distances that count") }
        } else {
            guard let metric = body["metric"]?.stringValue else {
                return FieldError(.missingField, "missing required field 'metric' (\(competitionMetrics.sorted().joined(separator: ", ")))")
            }
            guard competitionMetrics.contains(metric) else {
                return FieldError(.outOfRange, "'metric' is one of \(competitionMetrics.sorted().joined(separator: ", ")), not '\(metric.prefix(40))'")
            }
        }
        if goal == "shared" {
            guard let target = body["target"]?.doubleValue, target > 0 else {
                return FieldError(.missingField, "a 'shared' competition needs 'target', a positive number of the metric")
            }
        }
        var times: [Int64] = []
        for field in ["start", "end"] {
            guard let value = body[field] else { return FieldError(.missingField, "missing required field '\(field)'") }
            switch time(value, field: field, now: now, maxFutureMillis: longestCompetition) {
            case .failure(let error): return error
            case .success(let ms): times.append(ms)
            }
        }
        guard times[1] > times[0] else { return FieldError(.outOfRange, "a competition's 'end' must come after its 'start'") }
        guard times[1] - times[0] <= longestCompetition else { return FieldError(.outOfRange, "a competition runs at most 366 days") }
        if let grace = body["grace_s"] {
            guard let seconds = grace.doubleValue, seconds >= 0, seconds <= longestGrace else {
                return FieldError(.outOfRange, "'grace_s' is 0 to \(Int(longestGrace)) seconds")
            }
        }
        if let prizes = body["prizes"] {
            guard let list = prizes.arrayValue, list.count <= 100 else { return FieldError(.wrongType, "'prizes' is a list of at most 100 {ranks, points}") }
            for p in list {
                guard let r = p["ranks"]?.arrayValue, r.count == 2, let from = r[0].int64Value, let to = r[1].int64Value, from >= 1, from <= to,
                    to <= 100_000
                else { return FieldError(.outOfRange, "a prize's 'ranks' is [from, to], 1 ≤ from ≤ to") }
                guard let points = p["points"]?.int64Value, points >= 1, points <= 1_000_000 else {
                    return FieldError(.outOfRange, "a prize's 'points' is a whole number from 1 to 1000000")
                }
            }
        }
        return nil
    }

    /// How far ahead a session may be scheduled.
    static let latestSessionStart: Int64 = 366 * 86_400_000

    private static func checkSession(_ body: JSONObject, now: Int64) -> FieldError? {
        guard let start = body["start"] else { return FieldError(.missingField, "missing required field 'start'") }
        if case .failure(let error) = time(start, field: "start", now: now, maxFutureMillis: latestSessionStart) { return error }
        guard let duration = body["duration_s"] else { return FieldError(.missingField, "missing required field 'duration_s'") }
        guard let seconds = duration.doubleValue else { return FieldError(.wrongType, "field 'duration_s' must be a number, not \(duration.typeName)") }
        guard seconds >= 60, seconds <= 86_400 else { return FieldError(.outOfRange, "a session's 'duration_s' is 60 to 86400 seconds") }
        guard let sport = body["sport"] else { return FieldError(.missingField, "missing required field 'sport'") }
        guard sport.stringValue.map({ !$0.isEmpty && $0.count <= 32 }) == true else {
            return FieldError(.wrongType, "field 'sport' is a sport such as run")
        }
        guard let place = body["place"] else { return FieldError(.missingField, "missing required field 'place' {lat, lon, radius_m}") }
        guard case .object = place else { return FieldError(.wrongType, "field 'place' must be an object {lat, lon, radius_m}") }
        for (field, range) in [("lat", -90.0...90.0), ("lon", -180.0...180.0), ("radius_m", 1.0...50_000.0)] {
            guard let value = place[field] else { return FieldError(.missingField, "missing required field 'place.\(field)'") }
            guard let number = value.doubleValue else { return FieldError(.wrongType, "field 'place.\(field)' must be a number, not \(value.typeName)") }
            guard range.contains(number) else {
                return FieldError(.outOfRange, "'place.\(field)' must be within \(range.lowerBound)…\(range.upperBound)")
            }
        }
        if let capacity = body["capacity"] {
            guard let n = capacity.int64Value, n >= 1, n <= 100_000 else {
                return FieldError(.outOfRange, "a session's 'capacity' is a whole number from 1")
            }
        }
        return nil
    }
}
