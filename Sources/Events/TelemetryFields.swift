import ClubKernel
import JSON

/// The fields of one event object as read from the bytes, before validation.
///
/// Reading never stops at a field error: the value is skipped so that the reader stays in
/// step, and the first error refuses the element once the object is complete.
struct TelemetryFields {
    var type: String?
    var user: String?
    var device: String?
    var session: String?
    var ts: Int64?
    var tsText: String?
    var sport: String?
    var distance: Double?
    var heartRate: Double?
    var speed: Double?
    var cadence: Double?
    var power: Double?
    var latitude: Double?
    var longitude: Double?
    var altitude: Double?
    var personalField: String?
    var error: FieldError?

    mutating func read(_ key: JSONReader.Key, from reader: inout JSONReader) throws {
        // Dispatch on the name's length first: at most three comparisons per member.
        switch key.count {
        case 2 where reader.key(key, is: "ts"): try readTime(&reader)
        case 2 where reader.key(key, is: "hr"): heartRate = try number(&reader, "hr")
        case 3 where reader.key(key, is: "lat"): latitude = try number(&reader, "lat")
        case 3 where reader.key(key, is: "lon"): longitude = try number(&reader, "lon")
        case 4 where reader.key(key, is: "user"): user = try string(&reader, "user")
        case 4 where reader.key(key, is: "type"): type = try string(&reader, "type")
        case 5 where reader.key(key, is: "alt_m"): altitude = try number(&reader, "alt_m")
        case 5 where reader.key(key, is: "sport"): sport = try string(&reader, "sport")
        case 6 where reader.key(key, is: "device"): device = try string(&reader, "device")
        case 7 where reader.key(key, is: "session"): session = try string(&reader, "session")
        case 7 where reader.key(key, is: "cadence"): cadence = try number(&reader, "cadence")
        case 7 where reader.key(key, is: "power_w"): power = try number(&reader, "power_w")
        case 9 where reader.key(key, is: "speed_mps"): speed = try number(&reader, "speed_mps")
        case 10 where reader.key(key, is: "distance_m"): distance = try number(&reader, "distance_m")
        default:
            let name = reader.string(of: key)
            if EventDecoder.personalFields.contains(name), personalField == nil { personalField = name }
            try reader.skipValue()
        }
    }

    private mutating func readTime(_ reader: inout JSONReader) throws {
        switch try reader.peekKind() {
        case .number:
            let value = try reader.readNumber()
            if value.rounded(.towardZero) == value, abs(value) < 9.2e15 {
                ts = Int64(value)
            } else {
                fail(.invalidTimestamp, "field 'ts' must be integer epoch milliseconds")
            }
        case .string: tsText = try reader.readString()
        default:
            fail(.wrongType, "field 'ts' must be epoch milliseconds or an RFC 3339 string")
            try reader.skipValue()
        }
    }

    private mutating func fail(_ reason: RejectReason, _ message: String) {
        if error == nil { error = FieldError(reason, message) }
    }

    private mutating func number(_ reader: inout JSONReader, _ field: String) throws -> Double? {
        if try reader.readNullIfPresent() { return nil }
        guard try reader.peekKind() == .number else {
            fail(.wrongType, "field '\(field)' must be a number")
            try reader.skipValue()
            return nil
        }
        return try reader.readNumber()
    }

    private mutating func string(_ reader: inout JSONReader, _ field: String) throws -> String? {
        guard try reader.peekKind() == .string else {
            fail(.wrongType, "field '\(field)' must be a string")
            try reader.skipValue()
            return nil
        }
        return try reader.readString()
    }

    @inline(__always)
    private static func outOfRange(_ name: StaticString, _ value: Double?, _ range: ClosedRange<Double>) -> FieldError? {
        guard let value, !range.contains(value) else { return nil }
        return FieldError(.outOfRange, "field '\(name)' = \(value) is outside \(range.lowerBound)...\(range.upperBound)")
    }

    /// Validates the fields as a telemetry sample.
    func sample(now: Int64, maxFutureMillis: Int64) -> Result<TelemetrySample, FieldError> {
        if let personalField {
            return .failure(FieldError(.personalData, "field '\(personalField)' is personal data; the club stores only opaque ids"))
        }
        guard let user else { return .failure(FieldError(.missingField, "missing required field 'user'")) }
        guard let device else { return .failure(FieldError(.missingField, "missing required field 'device'")) }
        guard let session else { return .failure(FieldError(.missingField, "missing required field 'session'")) }
        if let error = EventDecoder.checkID(user, field: "user") ?? EventDecoder.checkID(device, field: "device")
            ?? EventDecoder.checkID(session, field: "session")
        {
            return .failure(error)
        }
        let time: Int64
        if let ts {
            time = ts
        } else if let tsText {
            guard let parsed = EventTime.parseRFC3339(tsText) else {
                return .failure(FieldError(.invalidTimestamp, "field 'ts' is not an RFC 3339 time: \(tsText.prefix(40))"))
            }
            time = parsed
        } else {
            return .failure(FieldError(.missingField, "missing required field 'ts'"))
        }
        if case .failure(let error) = EventDecoder.checkRange(time, field: "ts", now: now, maxFutureMillis: maxFutureMillis) {
            return .failure(error)
        }
        if let error = Self.outOfRange("hr", heartRate, 20...250) ?? Self.outOfRange("speed_mps", speed, 0...150)
            ?? Self.outOfRange("distance_m", distance, 0...1e9) ?? Self.outOfRange("lat", latitude, -90...90)
            ?? Self.outOfRange("lon", longitude, -180...180) ?? Self.outOfRange("cadence", cadence, 0...400)
            ?? Self.outOfRange("power_w", power, 0...5000) ?? Self.outOfRange("alt_m", altitude, -1000...10_000)
        {
            return .failure(error)
        }
        if (latitude == nil) != (longitude == nil) {
            return .failure(FieldError(.missingField, "fields 'lat' and 'lon' come together"))
        }
        if let sport, sport.isEmpty || sport.utf8.count > 32 {
            return .failure(FieldError(.outOfRange, "field 'sport' must hold 1 to 32 characters"))
        }
        return .success(
            TelemetrySample(
                user: user, device: device, session: session, ts: time, sport: sport, distance: distance,
                heartRate: heartRate, speed: speed, cadence: cadence, power: power, latitude: latitude,
                longitude: longitude, altitude: altitude))
    }
}
