/// Why a workout file cannot be imported: a stable code and a message saying where and what.
public struct ImportError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    static func truncated(_ what: String, at offset: Int) -> ImportError {
        ImportError("file_truncated", "the file ends inside \(what) at byte \(offset)")
    }
}
