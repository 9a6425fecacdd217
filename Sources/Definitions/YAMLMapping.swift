import Foundation
import Yams

/// Reads a YAML mapping key by key, recording located errors instead of stopping at the
/// first, and reporting keys nobody asked for as unknown.
public struct YAMLMapping {
    public let file: String
    let pairs: [(key: String, value: Node, mark: Mark?)]
    let mark: Mark?
    private var used: Set<String> = []
    /// Errors found so far, shared with nested mappings through ``nested(_:)``.
    public private(set) var errors: [DefinitionError] = []

    /// Parses `text` and reads its root as a mapping (an empty document is an empty mapping).
    public static func parse(_ text: String, file: String) -> Result<YAMLMapping, DefinitionError> {
        do {
            guard let root = try Yams.compose(yaml: text) else {
                return .success(YAMLMapping(file: file, node: .mapping(Node.Mapping([]))))
            }
            guard case .mapping = root else {
                return .failure(at(file, root.mark, "the file must hold a mapping of keys to values"))
            }
            return .success(YAMLMapping(file: file, node: root))
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                .composer(_, let problem, let mark, _):
                return .failure(DefinitionError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)"))
            default:
                return .failure(DefinitionError(file: file, line: 1, column: 1, message: "invalid YAML: \(error)"))
            }
        } catch {
            return .failure(DefinitionError(file: file, line: 1, column: 1, message: "invalid YAML: \(error)"))
        }
    }

    /// Parses `text` as a mapping, or throws its syntax error.
    /// - Throws: ``DefinitionErrors`` with the located YAML error.
    public static func root(_ text: String, file: String) throws -> YAMLMapping {
        switch parse(text, file: file) {
        case .failure(let error): throw DefinitionErrors([error])
        case .success(let mapping): return mapping
        }
    }

    /// Reads the file at `path` and parses it as a mapping.
    /// - Parameter what: what the file is, for the error when it cannot be read.
    /// - Throws: ``DefinitionErrors`` when it cannot be read or is not YAML.
    public static func root(path: String, describing what: String) throws -> YAMLMapping {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DefinitionErrors([DefinitionError(file: path, line: 1, column: 1, message: "cannot read the \(what) as UTF-8")])
        }
        return try root(text, file: path)
    }

    /// Reads `node` as a mapping.
    public init(file: String, node: Node) {
        self.file = file
        self.mark = node.mark
        if case .mapping(let mapping) = node {
            pairs = mapping.map { (key: $0.key.string ?? "", value: $0.value, mark: $0.key.mark) }
        } else {
            pairs = []
        }
    }

    static func at(_ file: String, _ mark: Mark?, _ message: String) -> DefinitionError {
        DefinitionError(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message)
    }

    /// Records an error at `node` (or at this mapping).
    public mutating func fail(_ message: String, at node: Node? = nil) {
        errors.append(Self.at(file, node?.mark ?? mark, message))
    }

    /// Records an error at a place of the file computed by the caller (inside a scalar).
    public mutating func fail(at line: Int, _ column: Int, _ message: String) {
        errors.append(DefinitionError(file: file, line: line, column: column, message: message))
    }

    /// The line where the mapping starts.
    public var line: Int { mark?.line ?? 1 }

    /// The column where the mapping starts.
    public var column: Int { mark?.column ?? 1 }

    public func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    /// The keys of the mapping, in file order.
    public var keys: [String] { pairs.map(\.key) }

    /// The raw node under `key`, marking the key as used.
    public mutating func node(_ key: String) -> Node? {
        used.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    /// A string value, or `defaultValue` when absent.
    public mutating func string(_ key: String, default defaultValue: String? = nil, required: Bool = false) -> String? {
        guard let node = node(key) else {
            if required { fail("missing required key '\(key)'") }
            return defaultValue
        }
        guard case .scalar(let scalar) = node else {
            fail("'\(key)' must be a single value", at: node)
            return defaultValue
        }
        return scalar.string
    }

    /// An integer value within `range`.
    public mutating func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) -> Int {
        guard let node = node(key) else { return defaultValue }
        guard let value = node.int, range.contains(value) else {
            fail("'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), not '\(node.string ?? "?")'", at: node)
            return defaultValue
        }
        return value
    }

    /// `true` or `false`.
    public mutating func bool(_ key: String, default defaultValue: Bool) -> Bool {
        guard let node = node(key) else { return defaultValue }
        guard let value = node.bool else {
            fail("'\(key)' must be true or false, not '\(node.string ?? "?")'", at: node)
            return defaultValue
        }
        return value
    }

    /// A number within `range`.
    public mutating func double(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) -> Double {
        guard let node = node(key) else { return defaultValue }
        guard let value = node.float, range.contains(value) else {
            fail("'\(key)' must be a number in \(range.lowerBound)...\(range.upperBound), not '\(node.string ?? "?")'", at: node)
            return defaultValue
        }
        return value
    }

    /// A duration such as `250ms`, `10s`, `5m`, `2h`, `1d`, in milliseconds.
    public mutating func duration(_ key: String, default defaultValue: Int64, min: Int64 = 0) -> Int64 {
        guard let node = node(key) else { return defaultValue }
        guard let text = node.string, let value = Self.parseDuration(text), value >= min else {
            fail("'\(key)' must be a duration like 500ms, 10s, 5m, 2h or 1d (at least \(min) ms), not '\(node.string ?? "?")'", at: node)
            return defaultValue
        }
        return value
    }

    /// Parses `250ms`, `10s`, `5m`, `2h`, `1d` into milliseconds.
    public static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let n = Int64(number), n >= 0, n <= Int64.max / scale / 4 { return n * scale }
        }
        return nil
    }

    /// An IANA time zone name, or nil when absent or unknown (an error is recorded).
    public mutating func timeZone(_ key: String) -> TimeZone? {
        guard let name = string(key) else { return nil }
        guard let zone = TimeZone(identifier: name) else {
            fail("unknown time zone '\(name)': use an IANA name such as Europe/Moscow or UTC", at: node(key))
            return nil
        }
        return zone
    }

    /// The names under `key` — one value or a list of them — in order and without repeats;
    /// nil when the key is absent. An entry `valid` refuses is recorded as an error saying
    /// that `key` must name `expected`.
    public mutating func names(_ key: String, expected: String, valid: (String) -> Bool) -> [String]? {
        guard let node = node(key) else { return nil }
        let items: [Node]
        switch node {
        case .scalar: items = [node]
        case .sequence(let list): items = Array(list)
        default: items = []
        }
        if items.isEmpty { fail("'\(key)' must name \(expected): one, or a list of them", at: node) }
        var names: [String] = []
        for item in items {
            guard let name = item.string, valid(name) else {
                fail("'\(key)' must name \(expected), not '\(item.string ?? "?")'", at: item)
                continue
            }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// The mappings of a list under `key`, or nil when the key is absent. A value that is not
    /// a list, or an element that is not a mapping, is recorded as an error naming `element`.
    /// Pass each one back to ``absorb(_:)``.
    public mutating func mappings(_ key: String, element: String) -> [YAMLMapping]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let list) = node else {
            fail("'\(key)' must be a list of \(element)s", at: node)
            return []
        }
        var result: [YAMLMapping] = []
        for item in list {
            guard case .mapping = item else {
                fail("each entry of '\(key)' must be a mapping: a \(element)", at: item)
                continue
            }
            result.append(YAMLMapping(file: file, node: item))
        }
        return result
    }

    /// A nested mapping; its errors join this one's when passed back to ``absorb(_:)``.
    public mutating func nested(_ key: String) -> YAMLMapping? {
        guard let node = node(key) else { return nil }
        guard case .mapping = node else {
            fail("'\(key)' must be a mapping", at: node)
            return nil
        }
        return YAMLMapping(file: file, node: node)
    }

    /// Takes over a nested mapping's errors, after checking it for unknown keys.
    public mutating func absorb(_ child: YAMLMapping) {
        var child = child
        child.rejectUnknownKeys()
        errors += child.errors
    }

    /// Records every key that no reader asked for.
    public mutating func rejectUnknownKeys() {
        for pair in pairs where !used.contains(pair.key) {
            errors.append(Self.at(file, pair.mark, "unknown key '\(pair.key)'"))
        }
        used.formUnion(pairs.map(\.key))
    }
}
