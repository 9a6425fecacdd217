import JSON

/// A refused command: a stable machine code and a human message, written as the contract's
/// `{"ok":false,"error":{"code":…,"message":…}}`. Codes never change meaning; new ones may come.
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// The reply that carries this error.
    public var reply: [UInt8] {
        var w = JSONWriter(capacity: message.utf8.count + 64)
        w.beginObject()
        w.member("ok", false)
        w.key("error")
        w.beginObject()
        w.member("code", code)
        w.member("message", message)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    /// The request is not JSON.
    public static func malformedJSON(_ detail: String) -> Self { Self("malformed_json", "the request is not JSON: \(detail)") }
    /// A required field is absent.
    public static func missingField(_ name: String) -> Self { Self("missing_field", "missing required field '\(name)'") }
    /// A field has the wrong type or an impossible value.
    public static func wrongType(_ message: String) -> Self { Self("wrong_type", message) }
    /// The store failed; nothing of the request took effect.
    public static func storageFailed(_ what: String, _ error: any Error) -> Self { Self("storage_failed", "\(what): \(error)") }
    /// The daemon is stopping; retry after it restarts.
    public static let shuttingDown = Self("shutting_down", "the daemon is shutting down; retry after it restarts")

    /// The error of a `{"ok":false,…}` reply, or nil for a successful one.
    public init?(reply: JSONValue) {
        guard reply["ok"] != .bool(true) else { return nil }
        self.init(
            reply["error"]?["code"]?.stringValue ?? "bad_reply",
            reply["error"]?["message"]?.stringValue ?? "the reply is neither ok nor an error: \(reply.jsonText.prefix(200))")
    }
}
