import JSON

/// A successful reply of the command socket: `{"ok":true, …members}`. Each reply type writes
/// its members with the JSON writer (the daemon) and reads itself back from a parsed reply
/// (`clubctl`), so both sides share one definition of the contract's fields.
public protocol Reply: Sendable {
    /// Writes the members after `"ok": true`.
    func writeMembers(into w: inout JSONWriter)
    /// Reads a successful reply.
    /// - Throws: ``CommandError`` (`bad_reply`) when a field is missing or of another type.
    init(reply: JSONValue) throws(CommandError)
}

extension Reply {
    /// The whole reply object.
    public var bytes: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("ok", true)
        writeMembers(into: &w)
        w.endObject()
        return w.bytes
    }
}

/// Reading fields of a reply, each failure naming the field.
struct ReplyReader {
    let value: JSONValue

    func string(_ key: String) throws(CommandError) -> String {
        guard let s = value[key]?.stringValue else { throw Self.missing(key, "a string") }
        return s
    }

    func int(_ key: String) throws(CommandError) -> Int {
        guard let n = value[key]?.int64Value else { throw Self.missing(key, "an integer") }
        return Int(n)
    }

    func double(_ key: String) throws(CommandError) -> Double {
        guard let n = value[key]?.doubleValue else { throw Self.missing(key, "a number") }
        return n
    }

    func optionalString(_ key: String) -> String? { value[key]?.stringValue }

    func array(_ key: String) throws(CommandError) -> [JSONValue] {
        guard let a = value[key]?.arrayValue else { throw Self.missing(key, "an array") }
        return a
    }

    func object(_ key: String) throws(CommandError) -> JSONObject {
        guard let o = value[key]?.objectValue else { throw Self.missing(key, "an object") }
        return o
    }

    static func missing(_ key: String, _ kind: String) -> CommandError {
        CommandError("bad_reply", "the reply's field '\(key)' is not \(kind)")
    }
}
