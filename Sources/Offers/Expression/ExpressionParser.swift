/// Parses a condition, resolving its names against the event schema and checking its
/// types as it goes. Grammar (docs/offers.md has it with examples):
///
///     condition  = or
///     or         = and { "or" and }
///     and        = not { "and" not }
///     not        = "not" not | comparison
///     comparison = sum [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in" ) sum ]
///     sum        = product { ( "+" | "-" ) product }
///     product    = unary { ( "*" | "/" | "%" ) unary }
///     unary      = "-" unary | primary
///     primary    = number | string | "true" | "false" | list | field | call | "(" condition ")"
///     list       = "[" [ condition { "," condition } ] "]"
///     field      = ( "event" | "user" ) "." name
///     call       = name "(" [ condition { "," condition } ] ")"
public struct ExpressionParser {
    /// Deepest nesting of parentheses, lists, calls and operators accepted.
    static let maxDepth = 32

    private let tokens: [Token]
    private let schema: EventSchema
    private var index = 0
    private var depth = 0

    /// Parses `text` as a condition: an expression of type true/false.
    /// - Throws: ``ExpressionError`` at the first mistake, located in `text`.
    public static func condition(_ text: String, schema: EventSchema) throws(ExpressionError) -> Expression {
        var parser = ExpressionParser(tokens: try ExpressionLexer.tokens(text), schema: schema)
        let start = parser.current.position
        let (expression, type) = try parser.parseOr()
        guard case .end = parser.current.kind else {
            throw parser.unexpected("an operator such as 'and', 'or' or '=='")
        }
        guard type.accepts(.bool) else {
            throw ExpressionError(start, "a condition must be true or false, but this is \(type): compare it, e.g. with '>='")
        }
        return expression
    }

    private init(tokens: [Token], schema: EventSchema) {
        self.tokens = tokens
        self.schema = schema
    }

    private typealias Typed = (expression: Expression, type: ValueType)

    private var current: Token { tokens[index] }

    private func unexpected(_ expected: String) -> ExpressionError {
        ExpressionError(current.position, "expected \(expected), found \(current.shown)")
    }

    private mutating func take(_ symbol: String) -> Bool {
        if case .symbol(symbol) = current.kind {
            index += 1
            return true
        }
        return false
    }

    private mutating func takeWord(_ word: String) -> Bool {
        if case .name(word) = current.kind {
            index += 1
            return true
        }
        return false
    }

    private mutating func nest() throws(ExpressionError) {
        depth += 1
        if depth > Self.maxDepth { throw ExpressionError(current.position, "the condition is nested more than \(Self.maxDepth) levels deep") }
    }

    private static func require(_ type: ValueType, _ actual: ValueType, at position: SourcePosition, _ role: String) throws(ExpressionError) {
        guard type.accepts(actual) else { throw ExpressionError(position, "\(role) must be \(type), not \(actual)") }
    }

    // MARK: Logic

    private mutating func parseOr() throws(ExpressionError) -> Typed {
        try parseLogic("or", operands: { parser throws(ExpressionError) in try parser.parseAnd() }, combine: Expression.or)
    }

    private mutating func parseAnd() throws(ExpressionError) -> Typed {
        try parseLogic("and", operands: { parser throws(ExpressionError) in try parser.parseNot() }, combine: Expression.and)
    }

    /// `operand { word operand }`, with true/false operands.
    private mutating func parseLogic(
        _ word: String, operands: (inout ExpressionParser) throws(ExpressionError) -> Typed, combine: (Expression, Expression) -> Expression
    ) throws(ExpressionError) -> Typed {
        let leftPosition = current.position
        var left = try operands(&self)
        while takeWord(word) {
            let rightPosition = current.position
            let right = try operands(&self)
            try Self.require(.bool, left.type, at: leftPosition, "the left side of '\(word)'")
            try Self.require(.bool, right.type, at: rightPosition, "the right side of '\(word)'")
            left = (combine(left.expression, right.expression), .bool)
        }
        return left
    }

    private mutating func parseNot() throws(ExpressionError) -> Typed {
        let position = current.position
        guard takeWord("not") else { return try parseComparison() }
        try nest()
        defer { depth -= 1 }
        let operand = try parseNot()
        try Self.require(.bool, operand.type, at: position, "the operand of 'not'")
        return (.not(operand.expression), .bool)
    }

    private mutating func parseComparison() throws(ExpressionError) -> Typed {
        let left = try parseSum()
        let position = current.position
        if takeWord("in") { return try membership(left, negated: false, at: position) }
        if case .name("not") = current.kind, index + 1 < tokens.count, case .name("in") = tokens[index + 1].kind {
            index += 2
            return try membership(left, negated: true, at: position)
        }
        guard case .symbol(let symbol) = current.kind, let op = Expression.Comparison(rawValue: symbol) else { return left }
        index += 1
        let right = try parseSum()
        switch op {
        case .equal, .notEqual:
            guard left.type.accepts(right.type) else {
                throw ExpressionError(position, "'\(symbol)' compares \(left.type) with \(right.type); both sides must be of one type")
            }
        default:
            guard left.type.accepts(right.type), [ValueType.number, .string, .any].contains(where: { $0 == left.type }),
                [ValueType.number, .string, .any].contains(where: { $0 == right.type })
            else {
                throw ExpressionError(position, "'\(symbol)' orders two numbers or two strings, not \(left.type) and \(right.type)")
            }
        }
        return (.compare(op, left.expression, right.expression), .bool)
    }

    private mutating func membership(_ element: Typed, negated: Bool, at position: SourcePosition) throws(ExpressionError) -> Typed {
        let collection = try parseSum()
        switch collection.type {
        case .list(let elementType):
            guard elementType.accepts(element.type) else {
                throw ExpressionError(position, "'in' looks for \(element.type) in \(collection.type)")
            }
        case .any, .string:
            guard collection.type != .string || element.type.accepts(.string) else {
                throw ExpressionError(position, "'in' on a string looks for a string in it, not \(element.type)")
            }
        default:
            throw ExpressionError(position, "the right side of 'in' must be a list such as ['RU-MOW', 'RU-SPE'], not \(collection.type)")
        }
        return (.member(element.expression, collection.expression, negated: negated), .bool)
    }

    // MARK: Arithmetic

    private mutating func parseSum() throws(ExpressionError) -> Typed {
        var left = try parseProduct()
        while case .symbol(let symbol) = current.kind, symbol == "+" || symbol == "-" {
            let position = current.position
            index += 1
            let right = try parseProduct()
            left = try Self.arithmetic(Expression.Arithmetic(rawValue: symbol)!, left, right, at: position)
        }
        return left
    }

    private mutating func parseProduct() throws(ExpressionError) -> Typed {
        var left = try parseUnary()
        while case .symbol(let symbol) = current.kind, symbol == "*" || symbol == "/" || symbol == "%" {
            let position = current.position
            index += 1
            let right = try parseUnary()
            left = try Self.arithmetic(Expression.Arithmetic(rawValue: symbol)!, left, right, at: position)
        }
        return left
    }

    private static func arithmetic(_ op: Expression.Arithmetic, _ left: Typed, _ right: Typed, at position: SourcePosition) throws(ExpressionError) -> Typed {
        try require(.number, left.type, at: position, "the left side of '\(op.rawValue)'")
        try require(.number, right.type, at: position, "the right side of '\(op.rawValue)'")
        return (.arithmetic(op, left.expression, right.expression), .number)
    }

    private mutating func parseUnary() throws(ExpressionError) -> Typed {
        let position = current.position
        guard take("-") else { return try parsePrimary() }
        try nest()
        defer { depth -= 1 }
        let operand = try parseUnary()
        try Self.require(.number, operand.type, at: position, "the operand of '-'")
        return (.negate(operand.expression), .number)
    }

    // MARK: Primaries

    private mutating func parsePrimary() throws(ExpressionError) -> Typed {
        let token = current
        switch token.kind {
        case .number(let n):
            index += 1
            return (.literal(.number(n)), .number)
        case .string(let s):
            index += 1
            return (.literal(.string(s)), .string)
        case .symbol("("):
            index += 1
            try nest()
            defer { depth -= 1 }
            let inner = try parseOr()
            guard take(")") else { throw unexpected("')' to close the '(' at \(token.position.line):\(token.position.column)") }
            return inner
        case .symbol("["):
            index += 1
            try nest()
            defer { depth -= 1 }
            return try parseList(opening: token)
        case .name("true"), .name("false"):
            index += 1
            return (.literal(.bool(token.kind == .name("true"))), .bool)
        case .name(let name):
            index += 1
            if case .symbol("(") = current.kind { return try parseCall(name, at: token.position) }
            return try parseField(name, at: token.position)
        default:
            throw unexpected("a value: a number, a string, a field such as event.distance_m, or '('")
        }
    }

    private mutating func parseList(opening: Token) throws(ExpressionError) -> Typed {
        var items: [Expression] = []
        var elementType: ValueType?
        if take("]") { return (.list([]), .list(.any)) }
        repeat {
            let position = current.position
            let item = try parseOr()
            if let known = elementType, !known.accepts(item.type) {
                throw ExpressionError(position, "a list holds values of one type: this is \(item.type), the first was \(known)")
            }
            if elementType == nil || elementType == .any { elementType = item.type }
            items.append(item.expression)
        } while take(",")
        guard take("]") else { throw unexpected("',' or ']' to close the list opened at \(opening.position.line):\(opening.position.column)") }
        return (.list(items), .list(elementType ?? .any))
    }

    private mutating func parseField(_ root: String, at position: SourcePosition) throws(ExpressionError) -> Typed {
        guard root == "event" || root == "user" else {
            throw ExpressionError(position, "unknown name '\(root)': fields start with 'event.' or 'user.', text goes in quotes")
        }
        guard take(".") else { throw unexpected("'.' and a field name after '\(root)'") }
        let fieldPosition = current.position
        guard case .name(let field) = current.kind else { throw unexpected("a field name after '\(root).'") }
        index += 1
        if root == "user" {
            guard let fact = UserFact(rawValue: field) else {
                let known = UserFact.allCases.map(\.rawValue).joined(separator: ", ")
                throw ExpressionError(fieldPosition, "unknown user field '\(field)'; user fields are: \(known)")
            }
            return (.reference(.user(fact)), fact.type)
        }
        switch schema.type(of: field) {
        case .success(let type):
            return (.reference(.event(field)), type)
        case .failure(let problem):
            throw ExpressionError(
                fieldPosition, "'\(problem.eventType)' events have no field '\(field)'; they have: \(problem.known.joined(separator: ", "))")
        }
    }

    private mutating func parseCall(_ name: String, at position: SourcePosition) throws(ExpressionError) -> Typed {
        guard let function = Function(rawValue: name) else {
            let known = Function.allCases.map(\.rawValue).joined(separator: ", ")
            throw ExpressionError(position, "unknown function '\(name)'; the functions are: \(known)")
        }
        index += 1  // "("
        try nest()
        defer { depth -= 1 }
        var arguments: [Typed] = []
        if !take(")") {
            repeat { arguments.append(try parseOr()) } while take(",")
            guard take(")") else { throw unexpected("',' or ')' to close the arguments of \(name)") }
        }
        let types = arguments.map(\.type)
        func arity(_ count: Int) throws(ExpressionError) {
            guard arguments.count == count else {
                throw ExpressionError(position, "\(name) takes \(count) argument\(count == 1 ? "" : "s"), not \(arguments.count): \(function.signature)")
            }
        }
        func expect(_ type: ValueType, _ i: Int) throws(ExpressionError) {
            guard type.accepts(types[i]) else {
                throw ExpressionError(position, "argument \(i + 1) of \(name) must be \(type), not \(types[i]): \(function.signature)")
            }
        }
        let result: ValueType
        switch function {
        case .has:
            try arity(1)
            guard case .reference = arguments[0].expression else {
                throw ExpressionError(position, "has() takes a field such as event.gear: \(function.signature)")
            }
            result = .bool
        case .min, .max:
            try arity(2)
            try expect(.number, 0)
            try expect(.number, 1)
            result = .number
        case .abs, .round, .floor, .hour, .weekday, .bestTime:
            try arity(1)
            try expect(.number, 0)
            result = .number
        case .lower:
            try arity(1)
            try expect(.string, 0)
            result = .string
        case .startsWith:
            try arity(2)
            try expect(.string, 0)
            try expect(.string, 1)
            result = .bool
        case .contains, .len:
            try arity(function == .len ? 1 : 2)
            switch types[0] {
            case .list, .string, .any: break
            default: throw ExpressionError(position, "argument 1 of \(name) must be a list or a string, not \(types[0])")
            }
            if function == .contains, case .list(let element) = types[0], !element.accepts(types[1]) {
                throw ExpressionError(position, "\(name) looks for \(types[1]) in \(types[0])")
            }
            result = function == .len ? .number : .bool
        }
        return (.call(function, arguments.map(\.expression)), result)
    }
}
