/// A place in an expression's text: 1-based line and column.
public struct SourcePosition: Sendable, Equatable, Hashable, Codable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// A mistake in an expression: where, and what was expected.
public struct ExpressionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let position: SourcePosition
    public let message: String

    public init(_ position: SourcePosition, _ message: String) {
        self.position = position
        self.message = message
    }

    public var description: String { "\(position.line):\(position.column): \(message)" }
}

/// One token of the condition language.
struct Token: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case number(Double)
        case string(String)
        case name(String)
        /// Operators and punctuation: `( ) [ ] , . + - * / % == != < <= > >=`.
        case symbol(String)
        case end
    }

    let kind: Kind
    let position: SourcePosition

    /// How the token reads in an error message.
    var shown: String {
        switch kind {
        case .number(let n): return n.rounded() == n && abs(n) < 1e15 ? "\(Int64(n))" : "\(n)"
        case .string(let s): return "'\(s)'"
        case .name(let n): return "'\(n)'"
        case .symbol(let s): return "'\(s)'"
        case .end: return "the end of the condition"
        }
    }
}

/// Splits an expression into tokens. Strings are in single or double quotes with `\\`
/// escapes; names are letters, digits and `_`; numbers are decimal.
struct ExpressionLexer {
    /// Longest accepted expression, in bytes: evaluation is bounded by the text it comes from.
    static let maxLength = 4096

    static func tokens(_ text: String) throws(ExpressionError) -> [Token] {
        let bytes = Array(text.utf8)
        guard bytes.count <= maxLength else {
            throw ExpressionError(SourcePosition(line: 1, column: 1), "the condition is longer than \(maxLength) characters")
        }
        var tokens: [Token] = []
        var i = 0
        var line = 1
        var lineStart = 0
        func position(_ index: Int) -> SourcePosition {
            SourcePosition(line: line, column: String(decoding: bytes[lineStart..<index], as: UTF8.self).count + 1)
        }
        while i < bytes.count {
            let c = bytes[i]
            let at = position(i)
            switch c {
            case UInt8(ascii: "\n"):
                i += 1
                line += 1
                lineStart = i
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                i += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                var j = i
                while j < bytes.count, isDigit(bytes[j]) || bytes[j] == UInt8(ascii: "_") { j += 1 }
                if j + 1 < bytes.count, bytes[j] == UInt8(ascii: "."), isDigit(bytes[j + 1]) {
                    j += 1
                    while j < bytes.count, isDigit(bytes[j]) { j += 1 }
                }
                if j < bytes.count, isNameByte(bytes[j]) {
                    throw ExpressionError(at, "a number cannot be followed directly by a letter; write units in the field name, e.g. distance_m")
                }
                let digits = String(decoding: bytes[i..<j], as: UTF8.self).replacingOccurrences(of: "_", with: "")
                guard let value = Double(digits) else { throw ExpressionError(at, "invalid number") }
                tokens.append(Token(kind: .number(value), position: at))
                i = j
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                var j = i + 1
                var scalars: [UInt8] = []
                while true {
                    guard j < bytes.count, bytes[j] != UInt8(ascii: "\n") else {
                        throw ExpressionError(at, "this string is not closed: add the matching \(c == UInt8(ascii: "'") ? "'" : "\"")")
                    }
                    if bytes[j] == c { break }
                    if bytes[j] == UInt8(ascii: "\\"), j + 1 < bytes.count {
                        j += 1
                    }
                    scalars.append(bytes[j])
                    j += 1
                }
                tokens.append(Token(kind: .string(String(decoding: scalars, as: UTF8.self)), position: at))
                i = j + 1
            case _ where isNameByte(c):
                var j = i
                while j < bytes.count, isNameByte(bytes[j]) || isDigit(bytes[j]) { j += 1 }
                tokens.append(Token(kind: .name(String(decoding: bytes[i..<j], as: UTF8.self)), position: at))
                i = j
            default:
                let two = i + 1 < bytes.count ? String(decoding: bytes[i...i + 1], as: UTF8.self) : ""
                if ["==", "!=", "<=", ">="].contains(two) {
                    tokens.append(Token(kind: .symbol(two), position: at))
                    i += 2
                } else if "()[],.+-*/%<>".utf8.contains(c) {
                    tokens.append(Token(kind: .symbol(String(UnicodeScalar(c))), position: at))
                    i += 1
                } else if c == UInt8(ascii: "=") {
                    throw ExpressionError(at, "'=' is not an operator here: compare with '=='")
                } else if c == UInt8(ascii: "&") || c == UInt8(ascii: "|") || c == UInt8(ascii: "!") {
                    throw ExpressionError(at, "write 'and', 'or' and 'not' instead of symbols")
                } else {
                    let scalar = String(decoding: bytes[i...], as: UTF8.self).first.map(String.init) ?? "?"
                    throw ExpressionError(at, "unexpected character '\(scalar)'")
                }
            }
        }
        tokens.append(Token(kind: .end, position: position(bytes.count)))
        return tokens
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func isNameByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "_")
    }
}
