#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pull reader over UTF-8 JSON bytes that validates everything it passes over.
///
/// Hot paths (telemetry decoding) walk an object key by key and read only the values they
/// need, without building a tree; everything skipped is still fully validated, so a document
/// is accepted exactly when ``JSONValue/parse(_:maxDepth:)`` would accept it.
///
/// The reader borrows its buffer: it must not outlive the `withUnsafeBytes` scope.
public struct JSONReader {
    /// Default nesting limit. Deeper documents are refused, never recursed into.
    public static let defaultMaxDepth = 64

    /// A member name, still as raw bytes of the input.
    public struct Key {
        /// Offset of the first byte after the opening quote.
        public let start: Int
        /// Length in bytes up to the closing quote.
        public let count: Int
        /// True when the raw bytes hold escapes, so they are not the name itself.
        public let hasEscapes: Bool
    }

    /// What the next value is, judged by its first byte.
    public enum ValueKind { case object, array, string, number, bool, null }

    let bytes: UnsafeRawBufferPointer
    /// The current byte offset.
    public internal(set) var position: Int
    let maxDepth: Int
    var depth = 0

    public init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = JSONReader.defaultMaxDepth) {
        self.bytes = bytes
        self.position = 0
        self.maxDepth = maxDepth
    }

    // MARK: Structure

    /// Skips JSON whitespace (space, tab, CR, LF).
    @inline(__always)
    public mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// Checks that only whitespace is left.
    public mutating func expectEnd() throws {
        skipWhitespace()
        if position < bytes.count { throw JSONError(.trailingData, at: position, "unexpected data after the JSON value") }
    }

    /// The kind of the next value, after whitespace.
    public mutating func peekKind() throws -> ValueKind {
        skipWhitespace()
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position, "expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw unexpected("expected a value")
        }
    }

    /// Consumes `{`.
    public mutating func beginObject() throws {
        try expect(UInt8(ascii: "{"), "expected '{'")
        try enter()
        afterOpen = true
    }

    /// Reads the next member name and its colon, or returns nil after consuming the closing `}`.
    public mutating func nextKey() throws -> Key? {
        skipWhitespace()
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position, "unterminated object") }
        if bytes[position] == UInt8(ascii: "}") {
            position += 1
            afterOpen = false
            depth -= 1
            return nil
        }
        if !afterOpen {
            try expect(UInt8(ascii: ","), "expected ',' or '}' in object")
            skipWhitespace()
        }
        afterOpen = false
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            if position >= bytes.count { throw JSONError(.unexpectedEnd, at: position, "unterminated object") }
            throw unexpected("expected a member name in double quotes")
        }
        let key = try scanString()
        try expect(UInt8(ascii: ":"), "expected ':' after member name")
        return key
    }

    /// Consumes `[`.
    public mutating func beginArray() throws {
        try expect(UInt8(ascii: "["), "expected '['")
        try enter()
        afterOpen = true
    }

    /// Moves to the next array element; returns false after consuming the closing `]`.
    public mutating func nextElement() throws -> Bool {
        skipWhitespace()
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position, "unterminated array") }
        if bytes[position] == UInt8(ascii: "]") {
            position += 1
            afterOpen = false
            depth -= 1
            return false
        }
        if !afterOpen { try expect(UInt8(ascii: ","), "expected ',' or ']' in array") }
        afterOpen = false
        return true
    }

    /// The last structural token was `{` or `[`: no comma is due before the next member or
    /// element. Every other member or element follows a comma.
    var afterOpen = false

    private mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw JSONError(.tooDeep, at: position, "nesting deeper than \(maxDepth) levels") }
    }

    // MARK: Keys

    /// True when `key` is exactly `name` (names matched this way have no escapes).
    @inline(__always)
    public func key(_ key: Key, is name: StaticString) -> Bool {
        guard !key.hasEscapes, key.count == name.utf8CodeUnitCount else { return false }
        return memcmp(bytes.baseAddress! + key.start, name.utf8Start, key.count) == 0
    }

    /// The decoded member name.
    public func string(of key: Key) -> String {
        decodeString(start: key.start, count: key.count, hasEscapes: key.hasEscapes)
    }

    // MARK: Scalars

    /// Reads a string value.
    public mutating func readString() throws -> String {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw expectedType("a string") }
        let raw = try scanString()
        return decodeString(start: raw.start, count: raw.count, hasEscapes: raw.hasEscapes)
    }

    /// Reads a number value.
    public mutating func readNumber() throws -> Double {
        skipWhitespace()
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position, "expected a number") }
        let b = bytes[position]
        guard b == UInt8(ascii: "-") || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) else {
            throw expectedType("a number")
        }
        return try scanNumber()
    }

    /// Reads `true` or `false`.
    public mutating func readBool() throws -> Bool {
        skipWhitespace()
        if try literal("true") { return true }
        if try literal("false") { return false }
        throw expectedType("a boolean")
    }

    /// Consumes `null` if it is next; returns whether it was.
    public mutating func readNullIfPresent() throws -> Bool {
        skipWhitespace()
        return try literal("null")
    }

    /// Validates and passes over the next value of any kind.
    public mutating func skipValue() throws {
        switch try peekKind() {
        case .object:
            try beginObject()
            while try nextKey() != nil { try skipValue() }
        case .array:
            try beginArray()
            while try nextElement() { try skipValue() }
        case .string: _ = try scanString()
        case .number: _ = try scanNumber()
        case .bool: _ = try readBool()
        case .null: _ = try literal("null")
        }
    }

    /// Reads the next value as a tree.
    public mutating func readValue() throws -> JSONValue {
        switch try peekKind() {
        case .object:
            try beginObject()
            var members: [(key: String, value: JSONValue)] = []
            while let key = try nextKey() {
                members.append((string(of: key), try readValue()))
            }
            return .object(JSONObject(members))
        case .array:
            try beginArray()
            var elements: [JSONValue] = []
            while try nextElement() { elements.append(try readValue()) }
            return .array(elements)
        case .string: return .string(try readString())
        case .number: return .number(try scanNumber())
        case .bool: return .bool(try readBool())
        case .null:
            _ = try literal("null")
            return .null
        }
    }

    /// A copy of the input between two offsets, for re-reading a span as a tree.
    public func slice(from start: Int, to end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    // MARK: Errors

    func unexpected(_ expectation: String) -> JSONError {
        guard position < bytes.count else { return JSONError(.unexpectedEnd, at: position, expectation) }
        let b = bytes[position]
        let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
        return JSONError(.unexpectedCharacter, at: position, "\(expectation), found \(shown)")
    }

    func expectedType(_ type: String) -> JSONError {
        guard position < bytes.count else { return JSONError(.unexpectedEnd, at: position, "expected \(type)") }
        return JSONError(.typeMismatch, at: position, "expected \(type)")
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8, _ message: @autoclosure () -> String) throws {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == byte else { throw unexpected(message()) }
        position += 1
    }

    mutating func literal(_ word: StaticString) throws -> Bool {
        let n = word.utf8CodeUnitCount
        guard position < bytes.count, bytes[position] == word.utf8Start.pointee else { return false }
        guard position + n <= bytes.count, memcmp(bytes.baseAddress! + position, word.utf8Start, n) == 0 else {
            throw unexpected("invalid literal")
        }
        position += n
        return true
    }
}
