import ClubKernel
import JSON

/// The fields of the User subsystem's device events, checked at the door (whose device it is
/// is decided in log order by the devices' admission gate).
extension EventDecoder {
    public static let deviceTypes: Set<String> = ["device.registered", "device.retired"]
    static let deviceKinds: Set<String> = ["watch", "phone", "bike_computer", "sensor", "other"]

    public static let gearTypes: Set<String> = ["gear.added", "gear.retired"]
    static let gearKinds: Set<String> = ["shoes", "bike", "clothing", "other"]

    static func checkGear(type: String, body: JSONObject) -> FieldError? {
        guard type.hasPrefix("gear.") else { return nil }
        guard gearTypes.contains(type) else {
            return FieldError(.unsupportedType, "unknown gear event '\(type)': expected \(gearTypes.sorted().joined(separator: ", "))")
        }
        guard let value = body["gear"] else { return FieldError(.missingField, "missing required field 'gear'") }
        guard let id = value.stringValue else { return FieldError(.wrongType, "field 'gear' must be a string, not \(value.typeName)") }
        if let error = checkID(id, field: "gear") { return error }
        guard type == "gear.added" else { return nil }
        guard let kind = body["kind"] else {
            return FieldError(.missingField, "missing required field 'kind' (\(gearKinds.sorted().joined(separator: ", ")))")
        }
        guard let k = kind.stringValue, gearKinds.contains(k) else {
            return FieldError(.outOfRange, "a gear's 'kind' is one of \(gearKinds.sorted().joined(separator: ", "))")
        }
        if let title = body["title"], title.stringValue.map({ $0.isEmpty || $0.count > 200 }) ?? true {
            return FieldError(.outOfRange, "a gear's 'title' is a string of 1 to 200 characters")
        }
        if let sports = body["sports"] {
            guard let list = sports.arrayValue, list.count <= 16, list.allSatisfy({ $0.stringValue.map { !$0.isEmpty && $0.count <= 32 } ?? false })
            else { return FieldError(.wrongType, "'sports' is a list of at most 16 sports such as run") }
        }
        if let limit = body["retire_at_m"] {
            guard let metres = limit.doubleValue, metres > 0, metres <= 1e8 else {
                return FieldError(.outOfRange, "'retire_at_m' is a distance in metres above 0")
            }
        }
        return nil
    }

    static func checkDevice(type: String, body: JSONObject) -> FieldError? {
        guard type.hasPrefix("device.") else { return nil }
        guard deviceTypes.contains(type) else {
            return FieldError(.unsupportedType, "unknown device event '\(type)': expected \(deviceTypes.sorted().joined(separator: ", "))")
        }
        guard let value = body["device"] else { return FieldError(.missingField, "missing required field 'device'") }
        guard let id = value.stringValue else { return FieldError(.wrongType, "field 'device' must be a string, not \(value.typeName)") }
        if let error = checkID(id, field: "device") { return error }
        guard type == "device.registered" else { return nil }
        guard let kind = body["kind"] else {
            return FieldError(.missingField, "missing required field 'kind' (\(deviceKinds.sorted().joined(separator: ", ")))")
        }
        guard let k = kind.stringValue, deviceKinds.contains(k) else {
            return FieldError(.outOfRange, "a device's 'kind' is one of \(deviceKinds.sorted().joined(separator: ", "))")
        }
        if let key = body["public_key"] {
            guard let text = key.stringValue, isZ85Key(text) else {
                return FieldError(.wrongType, "'public_key' is a CurveZMQ public key in Z85: 40 characters")
            }
        }
        return nil
    }

    /// 40 characters of the Z85 alphabet (a 32-byte key).
    public static func isZ85Key(_ text: String) -> Bool {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
        return text.utf8.count == 40 && text.utf8.allSatisfy(alphabet.contains)
    }
}
