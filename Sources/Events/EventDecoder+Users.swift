import ClubKernel
import JSON

/// The fields of the User subsystem's device events, checked at the door (whose device it is
/// is decided in log order by the devices' admission gate).
extension EventDecoder {
    public static let deviceTypes: Set<String> = ["device.registered", "device.retired"]
    static let deviceKinds: Set<String> = ["watch", "phone", "bike_computer", "sensor", "other"]

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
