import Foundation

/// A configuration or definition read from one YAML file: the type says how to read the
/// root mapping; reading text and files comes with it.
public protocol DefinitionFile {
    /// What the file is, for the error when it cannot be read ("bonus rules file").
    static var fileDescription: String { get }

    /// Reads the root mapping, recording every mistake in it; throws them all at the end.
    static func parse(_ root: inout YAMLMapping) throws -> Self
}

extension DefinitionFile {
    /// Parses definition text.
    /// - Throws: ``DefinitionErrors`` naming file:line:column of every mistake.
    public static func parse(_ text: String, file: String) throws -> Self {
        var root = try YAMLMapping.root(text, file: file)
        return try parse(&root)
    }

    /// Reads and parses the file at `path`.
    /// - Throws: ``DefinitionErrors`` naming file:line:column of every mistake.
    public static func load(path: String) throws -> Self {
        var root = try YAMLMapping.root(path: path, describing: fileDescription)
        return try parse(&root)
    }
}

/// The `*.yaml` / `*.yml` files of a definitions directory, read in name order.
public enum DefinitionDirectory {
    /// - Parameter what: what each file is, for the error when one cannot be read.
    /// - Returns: (path, contents) of each file; none when the directory holds none.
    /// - Throws: ``DefinitionErrors`` naming a file that is not UTF-8.
    public static func read(_ directory: String, describing what: String) throws -> [(name: String, text: String)] {
        try paths(in: directory).map { path in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw DefinitionErrors([DefinitionError(file: path, line: 1, column: 1, message: "cannot read the \(what) as UTF-8")])
            }
            return (path, text)
        }
    }

    /// The paths of the directory's `*.yaml` and `*.yml` files in name order (none when it
    /// does not exist).
    public static func paths(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    /// Whether `path` is a directory.
    public static func exists(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
