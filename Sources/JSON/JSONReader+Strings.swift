extension JSONReader {
    /// Scans a string starting at the opening quote, validating escapes and UTF-8, and
    /// returns its raw span. The reader ends after the closing quote.
    mutating func scanString() throws -> Key {
        position += 1  // opening quote
        let start = position
        var hasEscapes = false
        while true {
            guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position, "unterminated string") }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                let key = Key(start: start, count: position - start, hasEscapes: hasEscapes)
                position += 1
                return key
            } else if b == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else if b < 0x20 {
                throw JSONError(.invalidString, at: position, "control character 0x\(String(b, radix: 16)) in string")
            } else if b < 0x80 {
                position += 1
            } else {
                try scanUTF8Sequence()
            }
        }
    }

    private mutating func scanEscape() throws {
        position += 1
        guard position < bytes.count else { throw JSONError(.unexpectedEnd, at: position, "unterminated escape") }
        switch bytes[position] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 1
        case UInt8(ascii: "u"):
            let unit = try hex4(at: position + 1)
            position += 5
            if unit >= 0xD800 && unit < 0xDC00 {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw JSONError(.invalidEscape, at: position, "unpaired UTF-16 surrogate") }
                let low = try hex4(at: position + 2)
                guard low >= 0xDC00 && low < 0xE000 else {
                    throw JSONError(.invalidEscape, at: position, "unpaired UTF-16 surrogate")
                }
                position += 6
            } else if unit >= 0xDC00 && unit < 0xE000 {
                throw JSONError(.invalidEscape, at: position, "unpaired UTF-16 surrogate")
            }
        default:
            throw JSONError(.invalidEscape, at: position, "invalid escape sequence")
        }
    }

    private func hex4(at offset: Int) throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw JSONError(.unexpectedEnd, at: offset, "truncated \\u escape") }
        var value: UInt32 = 0
        for i in 0..<4 {
            let b = bytes[offset + i]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw JSONError(.invalidEscape, at: offset + i, "invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence: no overlong forms, no surrogates, <= U+10FFFF.
    private mutating func scanUTF8Sequence() throws {
        let b0 = bytes[position]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw JSONError(.invalidUTF8, at: position, "invalid UTF-8 lead byte")
        }
        guard position + length <= bytes.count else { throw JSONError(.invalidUTF8, at: position, "truncated UTF-8") }
        let b1 = bytes[position + 1]
        guard b1 >= low && b1 <= high else { throw JSONError(.invalidUTF8, at: position, "invalid UTF-8 sequence") }
        for i in 2..<length where bytes[position + i] & 0xC0 != 0x80 {
            throw JSONError(.invalidUTF8, at: position + i, "invalid UTF-8 continuation byte")
        }
        position += length
    }

    /// Decodes a validated raw string span.
    func decodeString(start: Int, count: Int, hasEscapes: Bool) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
        guard hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = Self.hexValue(raw, i)
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    let lowUnit = Self.hexValue(raw, i + 2)
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (lowUnit - 0xDC00)
                    i += 6
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default: out.append(e)  // \" \\ \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 {
            let b = raw[at + k]
            let d: UInt8 = b <= UInt8(ascii: "9") ? b - 48 : (b | 0x20) - UInt8(ascii: "a") + 10
            value = value << 4 | UInt32(d)
        }
        return value
    }
}
