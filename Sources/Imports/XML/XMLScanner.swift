/// A small, strict XML reader for workout files: elements, attributes, character data,
/// comments, CDATA and processing instructions. Hostile input cannot make it expand: any
/// document type declaration (and with it every entity definition, the root of "billion
/// laughs" and external-entity attacks) is refused, only the five predefined entities and
/// character references are decoded, and nesting is bounded.
struct XMLScanner {
    /// What the reader reports, in document order. Names are local names (prefix removed).
    enum Event {
        case start(name: String, attributes: [String: String])
        /// The end of an element, with the character data directly inside it, trimmed.
        case end(name: String, text: String)
    }

    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private var line = 1

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Reads `data` and hands each event to `handle`.
    /// - Throws: ``ImportError`` with the line of the first mistake.
    static func scan(_ data: [UInt8], _ handle: (Event) throws(ImportError) -> Void) throws(ImportError) {
        try data.withUnsafeBufferPointer { buffer throws(ImportError) in
            var scanner = XMLScanner(buffer)
            try scanner.run(handle)
        }
    }

    private func fail(_ code: String, _ message: String) -> ImportError {
        ImportError(code, "\(message) (line \(line))")
    }

    private mutating func run(_ handle: (Event) throws(ImportError) -> Void) throws(ImportError) {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
        var stack: [(name: String, text: [UInt8])] = []
        var sawRoot = false
        while position < bytes.count {
            let c = bytes[position]
            guard c == UInt8(ascii: "<") else {
                let text = try characterData()
                if stack.isEmpty {
                    guard text.allSatisfy(Self.isSpace) else { throw fail("xml_malformed", "text outside the root element") }
                } else {
                    stack[stack.count - 1].text += text
                }
                continue
            }
            if starts(with: "<?") {
                try skip(past: "?>", what: "a processing instruction")
            } else if starts(with: "<!--") {
                try skip(past: "-->", what: "a comment")
            } else if starts(with: "<![CDATA[") {
                guard !stack.isEmpty else { throw fail("xml_malformed", "CDATA outside the root element") }
                position += 9
                let begin = position
                try skip(past: "]]>", what: "a CDATA section")
                stack[stack.count - 1].text += bytes[begin..<(position - 3)]
            } else if starts(with: "<!") {
                throw fail("xml_doctype", "document type declarations (and entities) are not accepted in workout files")
            } else if starts(with: "</") {
                position += 2
                let name = try self.name()
                skipSpaces()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ">") else { throw fail("xml_malformed", "expected '>' after </\(name)") }
                position += 1
                guard let open = stack.popLast(), open.name == name else {
                    throw fail("xml_malformed", "</\(name)> does not close the open element")
                }
                try handle(.end(name: Self.local(name), text: Self.trimmed(open.text)))
            } else {
                position += 1
                let name = try self.name()
                guard !sawRoot || !stack.isEmpty else { throw fail("xml_malformed", "a second root element <\(name)>") }
                sawRoot = true
                var attributes: [String: String] = [:]
                while true {
                    skipSpaces()
                    guard position < bytes.count else { throw fail("file_truncated", "the file ends inside <\(name)>") }
                    if bytes[position] == UInt8(ascii: ">") || starts(with: "/>") { break }
                    let attribute = try self.name()
                    skipSpaces()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "=") else {
                        throw fail("xml_malformed", "expected '=' after attribute \(attribute)")
                    }
                    position += 1
                    skipSpaces()
                    attributes[Self.local(attribute)] = try quoted()
                }
                guard stack.count < Self.maxDepth else { throw fail("xml_too_deep", "elements are nested more than \(Self.maxDepth) deep") }
                try handle(.start(name: Self.local(name), attributes: attributes))
                if starts(with: "/>") {
                    position += 2
                    try handle(.end(name: Self.local(name), text: ""))
                } else {
                    position += 1
                    stack.append((name, []))
                }
            }
        }
        guard sawRoot, stack.isEmpty else {
            throw fail("file_truncated", stack.last.map { "the file ends inside <\($0.name)>" } ?? "the file has no root element")
        }
    }

    private func starts(with literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        let pointer = literal.utf8Start
        for i in 0..<count where bytes[position + i] != pointer[i] { return false }
        return true
    }

    private mutating func skip(past literal: StaticString, what: String) throws(ImportError) {
        while position < bytes.count {
            if starts(with: literal) {
                position += literal.utf8CodeUnitCount
                return
            }
            if bytes[position] == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }
        throw fail("file_truncated", "the file ends inside \(what)")
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    private mutating func skipSpaces() {
        while position < bytes.count, Self.isSpace(bytes[position]) {
            if bytes[position] == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }
    }

    private mutating func name() throws(ImportError) -> String {
        let begin = position
        while position < bytes.count {
            let c = bytes[position]
            if Self.isSpace(c) || c == UInt8(ascii: ">") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=") { break }
            guard c != UInt8(ascii: "<"), c != UInt8(ascii: "\""), c != UInt8(ascii: "'"), c != UInt8(ascii: "&") else {
                throw fail("xml_malformed", "invalid character in a name")
            }
            position += 1
        }
        guard position > begin, position - begin <= 256 else { throw fail("xml_malformed", "expected a name") }
        return String(decoding: bytes[begin..<position], as: UTF8.self)
    }

    private mutating func quoted() throws(ImportError) -> String {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") || bytes[position] == UInt8(ascii: "'") else {
            throw fail("xml_malformed", "attribute values must be in quotes")
        }
        let quote = bytes[position]
        position += 1
        var value: [UInt8] = []
        while position < bytes.count, bytes[position] != quote {
            guard bytes[position] != UInt8(ascii: "<") else { throw fail("xml_malformed", "'<' in an attribute value") }
            try appendCharacter(to: &value)
        }
        guard position < bytes.count else { throw fail("file_truncated", "the file ends inside an attribute value") }
        position += 1
        return String(decoding: value, as: UTF8.self)
    }

    private mutating func characterData() throws(ImportError) -> [UInt8] {
        var text: [UInt8] = []
        while position < bytes.count, bytes[position] != UInt8(ascii: "<") { try appendCharacter(to: &text) }
        return text
    }

    /// Appends the character at the position (an entity or character reference decoded).
    private mutating func appendCharacter(to text: inout [UInt8]) throws(ImportError) {
        let c = bytes[position]
        guard c == UInt8(ascii: "&") else {
            if c == UInt8(ascii: "\n") { line += 1 }
            text.append(c)
            position += 1
            return
        }
        var end = position + 1
        while end < bytes.count, end - position < 12, bytes[end] != UInt8(ascii: ";") { end += 1 }
        guard end < bytes.count, bytes[end] == UInt8(ascii: ";") else { throw fail("xml_entity", "an '&' that starts no reference") }
        let reference = String(decoding: bytes[(position + 1)..<end], as: UTF8.self)
        position = end + 1
        switch reference {
        case "lt": text.append(UInt8(ascii: "<"))
        case "gt": text.append(UInt8(ascii: ">"))
        case "amp": text.append(UInt8(ascii: "&"))
        case "quot": text.append(UInt8(ascii: "\""))
        case "apos": text.append(UInt8(ascii: "'"))
        default:
            let number: UInt32?
            if reference.hasPrefix("#x") {
                number = UInt32(reference.dropFirst(2), radix: 16)
            } else if reference.hasPrefix("#") {
                number = UInt32(reference.dropFirst())
            } else {
                throw fail("xml_entity", "unknown entity '&\(reference);': only the predefined entities are accepted")
            }
            guard let number, let scalar = Unicode.Scalar(number) else { throw fail("xml_entity", "invalid character reference '&\(reference);'") }
            text += Array(String(Character(scalar)).utf8)
        }
    }

    private static func local(_ name: String) -> String {
        guard let colon = name.lastIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }

    private static func trimmed(_ text: [UInt8]) -> String {
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: text[first...last], as: UTF8.self)
    }
}
