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
