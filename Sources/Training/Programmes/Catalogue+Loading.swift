import Definitions
import Foundation
import Yams

extension Catalogue {
    /// Loads every `*.yaml` file of `directory`, in name order.
    /// - Throws: ``DefinitionErrors`` with every mistake of every file (nothing is returned then).
    public static func load(directory: String) throws -> Catalogue {
        guard DefinitionDirectory.exists(directory) else {
            throw DefinitionErrors([DefinitionError(file: directory, line: 1, column: 1, message: "the catalogue directory does not exist")])
        }
        return try load(files: DefinitionDirectory.read(directory, describing: "catalogue file"))
    }

    /// Validates catalogue texts given as (file name, contents), all together: ids are unique
    /// across files and a step may name an exercise of any file.
    /// - Throws: ``DefinitionErrors`` locating every mistake.
    public static func load(files: [(name: String, text: String)]) throws -> Catalogue {
        var reader = CatalogueReader()
        for file in files { reader.read(file.text, file: file.name) }
        return try reader.finish()
    }
}

/// Reads catalogue files one after another, then resolves the steps' exercises.
struct CatalogueReader {
    private var errors: [DefinitionError] = []
    private var exercises: [Exercise] = []
    private var exerciseAt: [String: String] = [:]
    private var programmes: [PendingProgramme] = []
    private var programmeAt: [String: String] = [:]
    /// Steps of programmes with mistakes, whose exercises are checked all the same.
    private var invalidSteps: [PendingStep] = []

    /// A programme whose steps name exercises that may be in a later file.
    private struct PendingProgramme {
        let id: String
        let title: String
        let sport: String
        let weeks: Int
        let steps: [PendingStep]
        /// False when the programme has mistakes of its own: its steps' exercises are still checked.
        let valid: Bool
    }

    private struct PendingStep {
        let step: Int
        let day: Int
        let exercise: String
        let overrides: Targets
        /// Where the step names its exercise.
        let file: String
        let line: Int
        let column: Int
    }

    mutating func read(_ text: String, file: String) {
        var root: YAMLMapping
        switch YAMLMapping.parse(text, file: file) {
        case .failure(let error):
            errors.append(error)
            return
        case .success(let mapping): root = mapping
        }
        for var m in root.mappings("exercises", element: "exercise with id, title, sport and targets") ?? [] {
            if let exercise = Self.exercise(&m) {
                if let first = exerciseAt[exercise.id] {
                    m.fail("exercise id '\(exercise.id)' is used twice (first in \(first))", at: m.node("id"))
                } else {
                    exerciseAt[exercise.id] = "\(file):\(m.line)"
                    exercises.append(exercise)
                }
            }
            root.absorb(m)
        }
        for var m in root.mappings("programmes", element: "programme with id, title, sport, weeks and steps") ?? [] {
            let programme = Self.programme(&m)
            if !programme.valid {
                invalidSteps += programme.steps
            } else if let first = programmeAt[programme.id] {
                m.fail("programme id '\(programme.id)' is used twice (first in \(first))", at: m.node("id"))
            } else {
                programmeAt[programme.id] = "\(file):\(m.line)"
                programmes.append(programme)
            }
            root.absorb(m)
        }
        root.rejectUnknownKeys()
        errors += root.errors
    }

    mutating func finish() throws -> Catalogue {
        let byID = Dictionary(exercises.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for step in invalidSteps where byID[step.exercise] == nil {
            errors.append(Self.missing(step))
        }
        var resolved: [Programme] = []
        for pending in programmes {
            var steps: [Programme.Step] = []
            for step in pending.steps {
                guard let exercise = byID[step.exercise] else {
                    errors.append(Self.missing(step))
                    continue
                }
                steps.append(
                    Programme.Step(
                        step: step.step, day: step.day, exercise: exercise.id, sport: exercise.sport,
                        targets: exercise.targets.overridden(by: step.overrides), overrides: step.overrides))
            }
            resolved.append(Programme(id: pending.id, title: pending.title, sport: pending.sport, weeks: pending.weeks, steps: steps))
        }
        guard errors.isEmpty else {
            throw DefinitionErrors(errors.sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) })
        }
        return Catalogue(exercises: exercises, programmes: resolved)
    }

    private static func missing(_ step: PendingStep) -> DefinitionError {
        DefinitionError(
            file: step.file, line: step.line, column: step.column,
            message: "step \(step.step) names exercise '\(step.exercise)', which no catalogue file defines")
    }

    // MARK: Entries

    /// Letters, digits, `-`, `_` and `.`: ids appear in events and in the ids of raised events.
    static func validID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    private static func id(_ m: inout YAMLMapping, of what: String) -> String? {
        guard let id = m.string("id", required: true) else { return nil }
        guard validID(id) else {
            m.fail("\(what) id '\(id)' may hold 1 to 64 letters, digits, '-', '_' and '.' only", at: m.node("id"))
            return nil
        }
        return id
    }

    private static func text(_ m: inout YAMLMapping, _ key: String, required: Bool, limit: Int) -> String? {
        guard let value = m.string(key, required: required) else { return nil }
        if required && value.trimmingCharacters(in: .whitespaces).isEmpty {
            m.fail("'\(key)' must not be empty", at: m.node(key))
            return nil
        }
        if value.count > limit {
            m.fail("'\(key)' holds \(value.count) characters; at most \(limit)", at: m.node(key))
            return nil
        }
        return value
    }

    static func exercise(_ m: inout YAMLMapping) -> Exercise? {
        let id = id(&m, of: "exercise")
        let title = text(&m, "title", required: true, limit: 200)
        let sport = text(&m, "sport", required: true, limit: 32)
        let category = text(&m, "category", required: false, limit: 64) ?? "general"
        let instructions = text(&m, "instructions", required: false, limit: 10_000) ?? ""
        var media: [Exercise.Media] = []
        for var item in m.mappings("media", element: "media reference with kind and url") ?? [] {
            if let reference = Self.media(&item) { media.append(reference) }
            m.absorb(item)
        }
        var targets = Targets()
        if var nested = m.nested("targets") {
            targets = Self.targets(&nested)
            m.absorb(nested)
        }
        m.rejectUnknownKeys()
        guard let id, let title, let sport, m.errors.isEmpty else { return nil }
        return Exercise(id: id, title: title, sport: sport, category: category, instructions: instructions, media: media, targets: targets)
    }

    private static func media(_ m: inout YAMLMapping) -> Exercise.Media? {
        let kindName = m.string("kind", required: true)
        let kind = kindName.flatMap(Exercise.Media.Kind.init(rawValue:))
        if let kindName, kind == nil {
            m.fail("unknown media kind '\(kindName)': expected photo or video", at: m.node("kind"))
        }
        let url = m.string("url", required: true)
        if let url {
            let parsed = URL(string: url)
            let scheme = parsed?.scheme?.lowercased()
            if scheme != "http" && scheme != "https" || (parsed?.host ?? "").isEmpty {
                m.fail("media 'url' must be an http:// or https:// URL, not '\(url.prefix(80))' (the club keeps references, never the media)", at: m.node("url"))
            }
        }
        let sha256 = m.string("sha256")
        if let sha256, sha256.count != 64 || !sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            m.fail("'sha256' must be 64 lower-case hex digits", at: m.node("sha256"))
        }
        guard let kind, let url, m.errors.isEmpty else { return nil }
        return Exercise.Media(kind: kind, url: url, sha256: sha256)
    }

    /// Reads the target keys present in `m` (a `targets:` mapping, or a step's own keys).
    static func targets(_ m: inout YAMLMapping) -> Targets {
        var t = Targets()
        func number(_ key: String, _ range: ClosedRange<Double>, _ unit: String) -> Double? {
            guard let node = m.node(key) else { return nil }
            guard let value = node.float, value.isFinite, range.contains(value) else {
                m.fail("target '\(key)' must be a number of \(unit) in \(Int(range.lowerBound))...\(Int(range.upperBound)), not '\(node.string ?? "?")'", at: node)
                return nil
            }
            return value
        }
        func whole(_ key: String, _ range: ClosedRange<Int>, _ unit: String) -> Int? {
            guard let node = m.node(key) else { return nil }
            guard let value = node.int, range.contains(value) else {
                m.fail("target '\(key)' must be a whole number of \(unit) in \(range.lowerBound)...\(range.upperBound), not '\(node.string ?? "?")'", at: node)
                return nil
            }
            return value
        }
        t.durationSeconds = number("duration_s", 1...604_800, "seconds")
        t.distanceMeters = number("distance_m", 1...1_000_000, "metres")
        t.reps = whole("reps", 1...100_000, "repetitions")
        t.paceSecondsPerKm = number("pace_s_per_km", 60...3600, "seconds per kilometre")
        t.hrZone = whole("hr_zone", 1...5, "zone")
        return t
    }

    private static func programme(_ m: inout YAMLMapping) -> PendingProgramme {
        let id = id(&m, of: "programme")
        let title = text(&m, "title", required: true, limit: 200)
        let sport = text(&m, "sport", required: true, limit: 32)
        let weeksNode = m.node("weeks")
        let weeks = m.int("weeks", default: 0, in: 1...104)
        if weeksNode == nil { m.fail("missing required key 'weeks'") }
        var steps: [PendingStep] = []
        let list = m.mappings("steps", element: "step with step, day and exercise")
        if list == nil { m.fail("missing required key 'steps' (a list of steps)") }
        if list?.isEmpty == true, m.errors.isEmpty { m.fail("'steps' must hold at least one step", at: m.node("steps")) }
        var previousDay = 0
        for (index, var s) in (list ?? []).enumerated() {
            if let step = self.step(&s, expected: index + 1, weeks: weeks > 0 ? weeks : nil, previousDay: previousDay) {
                steps.append(step)
                previousDay = step.day
            }
            m.absorb(s)
        }
        m.rejectUnknownKeys()
        let valid = id != nil && title != nil && sport != nil && weeks > 0 && m.errors.isEmpty
        return PendingProgramme(id: id ?? "", title: title ?? "", sport: sport ?? "", weeks: weeks, steps: steps, valid: valid)
    }

    private static func step(_ m: inout YAMLMapping, expected: Int, weeks: Int?, previousDay: Int) -> PendingStep? {
        let number = m.node("step")
        if number == nil { m.fail("missing required key 'step'") }
        if let number, number.int != expected {
            m.fail("steps are numbered 1, 2, 3 … in order: expected step \(expected) here, not '\(number.string ?? "?")'", at: number)
        }
        let dayNode = m.node("day")
        var day: Int?
        if dayNode == nil { m.fail("missing required key 'day' (1-based day of the programme)") }
        if let dayNode {
            if let value = dayNode.int, value >= 1 {
                if let weeks, value > weeks * 7 {
                    m.fail("day \(value) is beyond the programme's \(weeks) weeks (last day \(weeks * 7))", at: dayNode)
                } else if value < previousDay {
                    m.fail("days go forward: step \(expected) is on day \(value), before the previous step's day \(previousDay)", at: dayNode)
                } else {
                    day = value
                }
            } else {
                m.fail("'day' must be a whole number from 1 (the programme's first day), not '\(dayNode.string ?? "?")'", at: dayNode)
            }
        }
        let exerciseNode = m.node("exercise")
        let exercise = m.string("exercise", required: true)
        var overrides = Self.targets(&m)
        if var nested = m.nested("targets") {
            let inner = Self.targets(&nested)
            for kind in Targets.Kind.allCases where overrides.has(kind) && inner.has(kind) {
                nested.fail("target '\(kind.rawValue)' is set twice: on the step and under 'targets'", at: nested.node(kind.rawValue))
            }
            overrides = overrides.overridden(by: inner)
            m.absorb(nested)
        }
        m.rejectUnknownKeys()
        guard let day, let exercise, let number, number.int == expected, m.errors.isEmpty else { return nil }
        let mark = exerciseNode?.mark
        return PendingStep(
            step: expected, day: day, exercise: exercise, overrides: overrides, file: m.file, line: mark?.line ?? m.line,
            column: mark?.column ?? m.column)
    }
}

extension Targets {
    func has(_ kind: Kind) -> Bool {
        switch kind {
        case .paceSecondsPerKm: paceSecondsPerKm != nil
        case .distanceMeters: distanceMeters != nil
        case .durationSeconds: durationSeconds != nil
        case .reps: reps != nil
        case .hrZone: hrZone != nil
        }
    }
}
