/// A mistake in a configuration or pipeline file, located at file:line:column.
public struct DefinitionError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// All mistakes found in a set of files; nothing is applied while there is one.
public struct DefinitionErrors: Error, CustomStringConvertible, Sendable {
    public let errors: [DefinitionError]

    public init(_ errors: [DefinitionError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
