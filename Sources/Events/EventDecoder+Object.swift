import ClubKernel
import JSON

extension EventDecoder {
    /// Activity types only the daemon raises (outcomes that rules reward): a client sending
    /// one could award itself points or offers.
    public static let daemonRaisedTypes: Set<String> = [
        "record.personal", "training.compared", "leaderboard.final", "imports.deleted", "training.step_completed",
        "training.step_missed", "training.programme_completed", "session.attended", "community.ran_together", "competition.finished",
        "competition.prize", "gear.worn",
    ]

    /// The enrolment events of the Training subsystem's programmes.
    public static let programmeTypes: Set<String> = ["programme.enrolled", "programme.paused", "programme.resumed", "programme.left"]

    /// How far ahead a programme may be set to start.
    static let latestProgrammeStart: Int64 = 366 * 86_400_000

    /// Fields that identify a person. An event carrying one is refused whole.
    static let personalFields: Set<String> = [
        "name", "first_name", "last_name", "full_name", "email", "e-mail", "phone", "phone_number", "address",
    ]

    /// Decodes one object at the reader. Field errors refuse the element; syntax errors throw.
    func decodeObject(_ reader: inout JSONReader, index: Int?, now: Int64, sender: Principal?, into result: inout DecodedEvents) throws {
        let start = reader.position
        var fields = TelemetryFields()
        try reader.beginObject()
        while let key = try reader.nextKey() {
            try fields.read(key, from: &reader)
        }
        let span = reader.slice(from: start, to: reader.position)
        func refuse(_ reason: RejectReason, _ message: String) {
            result.rejections.append(Rejection(reason, message, index: index, excerpt: Rejection.excerpt(of: span)))
        }
        if let error = fields.error { return refuse(error.reason, error.message) }
        guard let type = fields.type else { return refuse(.missingField, "missing required field 'type'") }
        if type == "telemetry" {
            switch fields.sample(now: now, maxFutureMillis: limits.maxFutureMillis) {
            case .success(let sample):
                if let sender, let refusal = sender.refusal(type: type, user: sample.user) { return refuse(.forbidden, refusal) }
                result.samples.append(sample)
            case .failure(let error): refuse(error.reason, error.message)
            }
            return
        }
        // Other event types: read the span again as a tree, and keep its bytes as received.
        var tree = JSONReader(span, maxDepth: limits.maxDepth)
        guard case .object(let body) = try tree.readValue() else { return }
        switch validate(type: type, body: body, json: Array(span), now: now) {
        case .success(var event):
            if let sender {
                if let refusal = sender.refusal(type: type, user: event.user) { return refuse(.forbidden, refusal) }
                event.sender = sender.description
            }
            event.index = index
            result.events.append(event)
        case .failure(let error): refuse(error.reason, error.message)
        }
    }

    /// Checks the common fields of a non-telemetry event.
    func validate(type: String, body: JSONObject, json: [UInt8], now: Int64) -> Result<ClubEvent, FieldError> {
        let known = ["workout", "profile", "connection"]
        guard known.contains(type) || Self.isActivityType(type) else {
            return .failure(
                FieldError(
                    .unsupportedType,
                    "unknown event type '\(type)': expected telemetry, workout, profile, connection or <area>.<action>"))
        }
        if Self.daemonRaisedTypes.contains(type) {
            return .failure(FieldError(.unsupportedType, "'\(type)' events are raised by the daemon itself, not accepted from clients"))
        }
        if let field = body.keys.first(where: Self.personalFields.contains) {
            return .failure(FieldError(.personalData, "field '\(field)' is personal data; the club stores only opaque ids"))
        }
        for field in ["id", "user"] {
            guard let value = body[field] else { return .failure(FieldError(.missingField, "missing required field '\(field)'")) }
            guard let text = value.stringValue else {
                return .failure(FieldError(.wrongType, "field '\(field)' must be a string, not \(value.typeName)"))
            }
            if let error = Self.checkID(text, field: field) { return .failure(error) }
        }
        if type == "connection" {
            guard let system = body["system"]?.stringValue, !system.isEmpty, system.count <= 64 else {
                return .failure(FieldError(.missingField, "a connection needs 'system': the external system's name, such as garmin"))
            }
            guard let state = body["state"]?.stringValue, state == "active" || state == "revoked" else {
                return .failure(FieldError(.outOfRange, "a connection's 'state' must be 'active' or 'revoked'"))
            }
        }
        if type.hasPrefix("programme."), let error = Self.checkProgramme(type: type, body: body, now: now) { return .failure(error) }
        if let error = Self.checkCommunity(type: type, body: body, now: now) { return .failure(error) }
        if let error = Self.checkDevice(type: type, body: body) { return .failure(error) }
        if let error = Self.checkGear(type: type, body: body) { return .failure(error) }
        if type == "workout", body["source"]?.stringValue?.isEmpty ?? true {
            return .failure(FieldError(.missingField, "missing required field 'source' (device, or the external system's name)"))
        }
        var time: Int64?
        if let ts = body["ts"] {
            switch Self.time(ts, field: "ts", now: now, maxFutureMillis: limits.maxFutureMillis) {
            case .failure(let error): return .failure(error)
            case .success(let ms): time = ms
            }
        }
        return .success(ClubEvent(type: type, id: body["id"]!.stringValue!, user: body["user"]!.stringValue!, ts: time, body: body, json: json))
    }

    /// An enrolment event names its programme; `programme.enrolled` says when day 1 starts
    /// (within a year from now).
    static func checkProgramme(type: String, body: JSONObject, now: Int64) -> FieldError? {
        guard programmeTypes.contains(type) else {
            return FieldError(
                .unsupportedType, "unknown programme event '\(type)': expected \(programmeTypes.sorted().joined(separator: ", "))")
        }
        guard let value = body["programme"] else { return FieldError(.missingField, "missing required field 'programme' (a programme id)") }
        guard let id = value.stringValue else { return FieldError(.wrongType, "field 'programme' must be a string, not \(value.typeName)") }
        if let error = checkID(id, field: "programme") { return error }
        guard type == "programme.enrolled" else { return nil }
        guard let start = body["start"] else {
            return FieldError(.missingField, "missing required field 'start' (when day 1 of the programme begins)")
        }
        if case .failure(let error) = time(start, field: "start", now: now, maxFutureMillis: latestProgrammeStart) { return error }
        return nil
    }

    /// `<area>.<action>`: two lower-case words joined by one dot.
    public static func isActivityType(_ type: String) -> Bool {
        let parts = type.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2
            && parts.allSatisfy { part in
                !part.isEmpty && part.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || $0 == 95 || ($0 >= 48 && $0 <= 57) }
            }
    }

    /// Opaque ids: 1–128 characters of `[A-Za-z0-9._:-]`; a user id must not be an e-mail
    /// or a phone number (the character set already excludes `@` and `+`).
    public static func checkID(_ id: String, field: String) -> FieldError? {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else {
            return FieldError(.invalidID, "field '\(field)' must hold 1 to 128 characters")
        }
        let firstBad = utf8.withContiguousStorageIfAvailable { $0.first { !isIDByte($0) } } ?? utf8.first { !isIDByte($0) }
        guard let bad = firstBad else { return nil }
        if field == "user", bad == UInt8(ascii: "@") || bad == UInt8(ascii: "+") || bad == UInt8(ascii: " ") {
            return FieldError(.personalData, "field 'user' looks like an e-mail, phone or name; the club takes only opaque ids")
        }
        return FieldError(.invalidID, "field '\(field)' may only hold letters, digits and . _ : -")
    }

    /// The bytes an opaque id may hold: `[A-Za-z0-9._:-]`.
    @inline(__always)
    private static func isIDByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// Reads event time from epoch milliseconds or RFC 3339 and checks its range.
    static func time(_ value: JSONValue, field: String, now: Int64, maxFutureMillis: Int64) -> Result<Int64, FieldError> {
        let ms: Int64
        switch value {
        case .number:
            guard let exact = value.int64Value else {
                return .failure(FieldError(.invalidTimestamp, "field '\(field)' must be integer epoch milliseconds"))
            }
            ms = exact
        case .string(let text):
            guard let parsed = EventTime.parseRFC3339(text) else {
                return .failure(FieldError(.invalidTimestamp, "field '\(field)' is not an RFC 3339 time: \(text.prefix(40))"))
            }
            ms = parsed
        default:
            return .failure(
                FieldError(.wrongType, "field '\(field)' must be epoch milliseconds or an RFC 3339 string, not \(value.typeName)"))
        }
        return checkRange(ms, field: field, now: now, maxFutureMillis: maxFutureMillis)
    }

    static func checkRange(_ ms: Int64, field: String, now: Int64, maxFutureMillis: Int64) -> Result<Int64, FieldError> {
        guard ms >= EventTime.earliest else {
            return .failure(FieldError(.invalidTimestamp, "field '\(field)' is before 2000-01-01 (is it seconds, not milliseconds?)"))
        }
        guard ms <= now + maxFutureMillis else {
            return .failure(
                FieldError(.futureTimestamp, "field '\(field)' is \((ms - now) / 1000) s in the future (limit \(maxFutureMillis / 1000) s)"))
        }
        return .success(ms)
    }
}

/// A refusal found while reading fields, before it is placed in a frame.
public typealias FieldError = Refusal
