import Bonus
import ClubKernel
import Definitions
import Events
import Foundation
import Yams

/// The offer rules of one file (config/offers/*.yaml; reference: docs/offers.md).
public struct OfferRuleFile: DefinitionFile, Sendable {
    public static let fileDescription = "offer rules file"
    public var rules: [OfferRule]

    public static func parse(_ root: inout YAMLMapping) throws -> OfferRuleFile {
        let zone = root.timeZone("time_zone") ?? TimeZone(identifier: "UTC")!
        let calendar = LocalCalendar(timeZone: zone)
        var rules: [OfferRule] = []
        if let list = root.mappings("offers", element: "rule with id, title, on or schedule, offer and audience") {
            for var m in list {
                if let rule = OfferRuleReader.rule(&m, calendar: calendar) { rules.append(rule) }
                root.absorb(m)
            }
        } else {
            root.fail("missing required key 'offers' (a list of offer rules)")
        }
        root.rejectUnknownKeys()
        guard root.errors.isEmpty else {
            throw DefinitionErrors(root.errors.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return OfferRuleFile(rules: rules)
    }
}

/// Every offer rule the daemon runs, from all rule files; ids and code prefixes are unique.
public struct OfferRules: Sendable {
    public let rules: [OfferRule]

    public init(_ rules: [OfferRule]) { self.rules = rules }

    /// Every occurrence of the rules' schedules in `from...to`, in order (at most 100,000).
    public func occurrences(from: Int64, to: Int64) -> [Int64] {
        var times: Set<Int64> = []
        for rule in rules {
            guard case .schedule(let start, let every) = rule.trigger else { continue }
            var time = start
            if let every, time < from { time += (from - time + every - 1) / every * every }
            while time <= to, times.count < 100_000 {
                if time >= from { times.insert(time) }
                guard let every else { break }
                time += every
            }
        }
        return times.sorted()
    }

    /// Loads every `*.yaml` file of `directory` (none when it does not exist).
    /// - Throws: ``DefinitionErrors`` with every mistake of every file; nothing is returned then.
    public static func load(directory: String) throws -> OfferRules {
        try load(files: DefinitionDirectory.paths(in: directory))
    }

    /// Loads the rule files at `paths`, together.
    public static func load(files paths: [String]) throws -> OfferRules {
        var errors: [DefinitionError] = []
        var rules: [OfferRule] = []
        for path in paths {
            do { rules += try OfferRuleFile.load(path: path).rules } catch let e as DefinitionErrors { errors += e.errors }
        }
        errors += duplicates(rules)
        guard errors.isEmpty else { throw DefinitionErrors(errors) }
        return OfferRules(rules)
    }

    /// Parses one file's text alone (tests, previews).
    public static func parse(_ text: String, file: String) throws -> OfferRules {
        let rules = try OfferRuleFile.parse(text, file: file).rules
        let errors = duplicates(rules)
        guard errors.isEmpty else { throw DefinitionErrors(errors) }
        return OfferRules(rules)
    }

    private static func duplicates(_ rules: [OfferRule]) -> [DefinitionError] {
        var errors: [DefinitionError] = []
        var ids: [String: OfferRule.Origin] = [:]
        var prefixes: [String: OfferRule.Origin] = [:]
        for rule in rules {
            func error(_ message: String) -> DefinitionError {
                DefinitionError(file: rule.origin.file, line: rule.origin.line, column: rule.origin.column, message: message)
            }
            if let first = ids[rule.id] {
                errors.append(error("duplicate offer rule id '\(rule.id)' (first at \(first))"))
            } else {
                ids[rule.id] = rule.origin
            }
            if let first = prefixes[rule.effect.codePrefix] {
                errors.append(error("code prefix '\(rule.effect.codePrefix)' is already used by the rule at \(first); codes must tell rules apart"))
            } else {
                prefixes[rule.effect.codePrefix] = rule.origin
            }
        }
        return errors
    }
}

/// Reads one rule mapping, recording every mistake in it.
enum OfferRuleReader {
    static func rule(_ m: inout YAMLMapping, calendar: LocalCalendar) -> OfferRule? {
        let origin = OfferRule.Origin(file: m.file, line: m.line, column: m.column)
        let id = m.string("id", required: true) ?? ""
        if m.has("id"), id.isEmpty || !id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            m.fail("'id' must be a non-empty word of letters, digits, '-', '_' or '.'", at: m.node("id"))
        }
        let title = m.string("title", required: true) ?? ""
        if m.has("title"), title.trimmingCharacters(in: .whitespaces).isEmpty { m.fail("'title' must not be empty", at: m.node("title")) }
        let trigger = self.trigger(&m)
        let audience = self.audience(&m)
        if case .schedule = trigger, audience == .user {
            m.fail("a scheduled rule has no triggering user: its audience must be 'everyone' or {regions: [...]}", at: m.node("audience"))
        }
        let condition = self.condition(&m, trigger: trigger)
        let effect = self.effect(&m, ruleID: id)
        let caps = self.caps(&m, audience: audience)
        let priority = m.int("priority", default: 0, in: -1_000_000...1_000_000)
        guard let trigger, let audience, let effect, let caps, !id.isEmpty, m.errors.isEmpty else { return nil }
        return OfferRule(
            id: id, title: title, trigger: trigger, condition: condition, effect: effect, audience: audience, caps: caps,
            priority: priority, calendar: calendar, origin: origin)
    }

    private static func trigger(_ m: inout YAMLMapping) -> OfferRule.Trigger? {
        switch (m.has("on"), m.has("schedule")) {
        case (true, true):
            m.fail("a rule fires either 'on' events or on a 'schedule', not both", at: m.node("schedule"))
            return nil
        case (false, false):
            m.fail("a rule needs a trigger: 'on' (event types) or 'schedule' (a campaign)")
            return nil
        case (true, false):
            return eventTypes(&m).map { .events($0) }
        case (false, true):
            guard var schedule = m.nested("schedule") else { return nil }
            defer { m.absorb(schedule) }
            guard let text = schedule.string("at", required: true) else { return nil }
            guard let start = EventTime.parseRFC3339(text) else {
                schedule.fail("'at' must be an RFC 3339 time such as 2026-12-05T09:00:00+03:00, not '\(text)'", at: schedule.node("at"))
                return nil
            }
            var every: Int64?
            if schedule.has("every") {
                every = schedule.duration("every", default: 86_400_000, min: 3_600_000)
            }
            return .schedule(start: start, every: every)
        }
    }

    private static func eventTypes(_ m: inout YAMLMapping) -> [String]? {
        m.names("on", expected: "activity event types such as workout, workout.finished or training.compared") {
            ["workout", "profile", "connection"].contains($0) || EventDecoder.isActivityType($0)
        }
    }

    private static func audience(_ m: inout YAMLMapping) -> OfferRule.Audience? {
        guard let node = m.node("audience") else {
            m.fail("missing required key 'audience' (user, everyone, or {regions: [...]})")
            return nil
        }
        if case .scalar = node {
            switch node.string {
            case "user": return .user
            case "everyone": return .everyone
            default: break
            }
        } else if case .mapping = node, var audience = m.nested("audience") {
            defer { m.absorb(audience) }
            guard let list = audience.node("regions") else {
                audience.fail("an audience mapping needs 'regions': a list of region codes such as RU-SPE")
                return nil
            }
            guard case .sequence(let items) = list, !items.isEmpty else {
                audience.fail("'regions' must be a non-empty list of region codes such as [RU-MOW, RU-SPE]", at: list)
                return nil
            }
            var regions: [String] = []
            for item in items {
                guard let code = item.string, isRegionCode(code) else {
                    audience.fail("'\(item.string ?? "?")' is not a region code: use ISO 3166-2 codes such as RU-SPE", at: item)
                    continue
                }
                regions.append(code)
            }
            return regions.count == items.count ? .regions(regions) : nil
        }
        m.fail("'audience' must be 'user', 'everyone' or {regions: [RU-MOW, ...]}, not '\(node.string ?? "?")'", at: node)
        return nil
    }

    static func isRegionCode(_ code: String) -> Bool {
        let parts = code.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts[0].count == 2 && parts[0].allSatisfy { $0.isASCII && $0.isUppercase }
            && (1...3).contains(parts[1].count) && parts[1].allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) }
    }

    private static func condition(_ m: inout YAMLMapping, trigger: OfferRule.Trigger?) -> Expression? {
        guard let node = m.node("when") else { return nil }
        guard case .scalar(let scalar) = node else {
            m.fail("'when' must be a condition written as text, e.g. \"event.distance_m >= 5000\"", at: node)
            return nil
        }
        guard case .events(let types) = trigger else {
            if case .schedule = trigger { m.fail("a scheduled rule has no event to test: remove 'when'", at: node) }
            return nil
        }
        do {
            return try ExpressionParser.condition(scalar.string, schema: EventSchema(types: types))
        } catch {
            let (line, column) = locate(error.position, in: scalar)
            m.fail(at: line, column, "in the condition: \(error.message)")
            return nil
        }
    }

    /// Where a position inside a scalar's text is in the file.
    private static func locate(_ position: SourcePosition, in scalar: Node.Scalar) -> (Int, Int) {
        let (line, column) = (scalar.mark?.line ?? 1, scalar.mark?.column ?? 1)
        switch scalar.style {
        case .singleQuoted, .doubleQuoted:
            return (line + position.line - 1, position.line == 1 ? column + position.column : position.column)
        case .literal, .folded:
            // Block text starts on the next line, indented; the indentation is not kept by
            // the parser, so the column assumes two spaces more than the indicator's line.
            return (line + position.line, position.column + 2)
        default:
            return (line + position.line - 1, position.line == 1 ? column + position.column - 1 : position.column)
        }
    }

    private static func effect(_ m: inout YAMLMapping, ruleID: String) -> OfferRule.Effect? {
        guard var offer = m.nested("offer") else {
            if !m.has("offer") { m.fail("missing required key 'offer' (text, discount, validity)") }
            return nil
        }
        defer { m.absorb(offer) }
        let text = offer.string("text", required: true) ?? ""
        if offer.has("text"), text.isEmpty || text.count > 500 { offer.fail("'text' must hold 1 to 500 characters", at: offer.node("text")) }
        var effect = OfferRule.Effect(
            text: text, discountPercent: nil, discountAmount: nil, categories: [], skus: [], validFor: 0, codePrefix: "")
        switch (offer.has("discount_percent"), offer.has("discount_amount")) {
        case (true, true):
            offer.fail("give either 'discount_percent' or 'discount_amount', not both", at: offer.node("discount_amount"))
        case (false, false):
            offer.fail("an offer needs a discount: 'discount_percent' (1-100) or 'discount_amount' (in the shop's currency)")
        case (true, false):
            effect.discountPercent = offer.double("discount_percent", default: 0, in: 0.01...100)
        case (false, true):
            effect.discountAmount = offer.double("discount_amount", default: 0, in: 0.01...1_000_000)
        }
        effect.categories = offer.names("categories", expected: "product categories such as running-shoes") { !$0.isEmpty } ?? []
        effect.skus = offer.names("skus", expected: "SKUs") { !$0.isEmpty } ?? []
        effect.validFor = offer.duration("valid_for", default: 0, min: 60_000)
        if !offer.has("valid_for") { offer.fail("missing required key 'valid_for' (how long an offer stays valid, e.g. 14d)") }
        let defaultPrefix = ruleID.uppercased().filter { $0.isLetter || $0.isNumber }
        effect.codePrefix = offer.string("code_prefix", default: String(defaultPrefix.prefix(12))) ?? ""
        if !(1...16).contains(effect.codePrefix.count) || !effect.codePrefix.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) }) {
            offer.fail(
                "'code_prefix' must be 1 to 16 capital letters or digits, not '\(effect.codePrefix)'",
                at: offer.node("code_prefix"))
        }
        return effect
    }

    private static func caps(_ m: inout YAMLMapping, audience: OfferRule.Audience?) -> OfferRule.Caps? {
        var caps = OfferRule.Caps()
        guard var node = m.nested("caps") else { return m.has("caps") ? nil : caps }
        defer { m.absorb(node) }
        if node.has("once_per") { caps.oncePer = node.duration("once_per", default: 0, min: 1) }
        if node.has("budget") { caps.budget = node.int("budget", default: 0, in: 0...1_000_000_000) }
        if var regions = node.nested("region_budget") {
            for key in regions.keys {
                let limit = regions.int(key, default: 0, in: 0...1_000_000_000)
                if key == "other" {
                    caps.otherRegionBudget = limit
                } else if !isRegionCode(key) {
                    regions.fail("'\(key)' is not a region code: use ISO 3166-2 codes such as RU-SPE, or 'other'", at: regions.node(key))
                } else if case .regions(let list) = audience, !list.contains(key) {
                    regions.fail("region '\(key)' has a budget but is not in the rule's audience \(list)", at: regions.node(key))
                } else {
                    caps.regionBudgets[key] = limit
                }
            }
            node.absorb(regions)
        }
        return caps
    }
}
