/// Why a JSON text was refused, with the byte offset where reading stopped.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public enum Kind: String, Sendable {
        case unexpectedEnd = "unexpected_end"
        case unexpectedCharacter = "unexpected_character"
        case invalidNumber = "invalid_number"
        case invalidString = "invalid_string"
        case invalidEscape = "invalid_escape"
        case invalidUTF8 = "invalid_utf8"
        case tooDeep = "too_deep"
        case trailingData = "trailing_data"
        case typeMismatch = "type_mismatch"
    }

    public let kind: Kind
    /// Byte offset into the input.
    public let offset: Int
    /// A short human explanation.
    public let detail: String

    public init(_ kind: Kind, at offset: Int, _ detail: String) {
        self.kind = kind
        self.offset = offset
        self.detail = detail
    }

    public var description: String { "\(detail) at byte \(offset)" }
}
