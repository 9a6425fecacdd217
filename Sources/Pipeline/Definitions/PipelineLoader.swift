import Definitions
import Events
import Foundation
import Telemetry
import Yams

/// Loads and validates `*.yaml` pipeline definitions.
///
/// Every file is checked completely and every mistake reported with file:line:column;
/// nothing is returned unless all files are valid, so a bad reload never replaces running
/// pipelines.
public enum PipelineLoader {
    /// The pipeline the daemon runs when no pipeline directory exists.
    public static let embeddedDefault = """
        # One-minute tumbling windows of every user's telemetry, published on window.<user>.
        name: minute
        stages:
          - id: in
            kind: source
            events: [telemetry]
          - id: windows
            kind: window
            from: in
            window: tumbling
            size: 1m
            allowed_lateness: 2m
            out_of_orderness: 5s
          - id: out
            kind: publish
            from: windows
            topic: window
        """

    /// The `*.yaml` files of `directory` as (path, text), or the embedded default pipeline when
    /// the directory does not exist. Read once, they feed ``load(files:)`` and the Training
    /// subsystem's leaderboards (`TrainingConfig.load(files:)`).
    /// - Throws: ``DefinitionErrors`` when a file cannot be read or there is none.
    public static func read(directory: String) throws -> [(name: String, text: String)] {
        guard DefinitionDirectory.exists(directory) else { return [("<embedded default>", embeddedDefault)] }
        let files = try DefinitionDirectory.read(directory, describing: "file")
        guard !files.isEmpty else {
            throw DefinitionErrors([DefinitionError(file: directory, line: 1, column: 1, message: "no *.yaml pipeline files")])
        }
        return files
    }

    /// Validates pipeline texts given as (file name, contents).
    public static func load(files: [(name: String, text: String)]) throws -> [PipelineDefinition] {
        var errors: [DefinitionError] = []
        var definitions: [PipelineDefinition] = []
        var names: [String: String] = [:]
        for (file, text) in files {
            switch YAMLMapping.parse(text, file: file) {
            case .failure(let error): errors.append(error)
            case .success(let mapping) where mapping.has("leaderboards"):
                continue  // a leaderboards file: TrainingConfig reads it
            case .success(let mapping):
                var mapping = mapping
                let definition = parse(&mapping)
                mapping.rejectUnknownKeys()
                errors += mapping.errors
                if let definition, mapping.errors.isEmpty {
                    if let other = names[definition.name] {
                        errors.append(DefinitionError(file: file, line: 1, column: 1, message: "pipeline name '\(definition.name)' is already used by \(other)"))
                    }
                    names[definition.name] = file
                    definitions.append(definition)
                }
            }
        }
        guard errors.isEmpty else { throw DefinitionErrors(errors) }
        return definitions
    }

    private static let stageKinds = ["source", "window", "publish"]

    private static func parse(_ m: inout YAMLMapping) -> PipelineDefinition? {
        let name = m.string("name", required: true) ?? ""
        if !name.isEmpty, !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
            m.fail("'name' may hold letters, digits, '-' and '_' only", at: m.node("name"))
        }
        guard let stagesNode = m.node("stages") else {
            m.fail("missing required key 'stages'")
            return nil
        }
        guard case .sequence(let sequence) = stagesNode, !sequence.isEmpty else {
            m.fail("'stages' must be a non-empty list of stages", at: stagesNode)
            return nil
        }
        var source: (id: String, types: [String])?
        var window: (id: String, from: String, spec: WindowSpec, node: Node)?
        var publish: (from: String, topic: String, activity: String?, node: Node)?
        var ids: Set<String> = []
        for stageNode in sequence {
            guard case .mapping = stageNode else {
                m.fail("each stage must be a mapping with 'id' and 'kind'", at: stageNode)
                continue
            }
            var stage = YAMLMapping(file: m.file, node: stageNode)
            let id = stage.string("id", required: true) ?? ""
            if !id.isEmpty, !ids.insert(id).inserted { stage.fail("stage id '\(id)' is used twice", at: stage.node("id")) }
            let kind = stage.string("kind", required: true) ?? ""
            switch kind {
            case "source":
                if source != nil { stage.fail("a pipeline has exactly one source stage", at: stageNode) }
                source = (id, sourceTypes(&stage))
            case "window":
                if window != nil { stage.fail("a pipeline has one window stage", at: stageNode) }
                let from = stage.string("from", required: true) ?? ""
                window = (id, from, windowSpec(&stage), stageNode)
            case "publish":
                if publish != nil { stage.fail("a pipeline has one publish stage", at: stageNode) }
                let from = stage.string("from", required: true) ?? ""
                let topic = stage.string("topic", required: true) ?? ""
                if !topic.isEmpty, topic.contains(where: { $0 == " " || $0 == "." }) {
                    stage.fail("'topic' is a prefix without spaces or dots: results go to <topic>.<user>", at: stage.node("topic"))
                }
                let activity = stage.string("activity")
                if let activity, !EventDecoder.isActivityType(activity) {
                    stage.fail(
                        "'activity' is an activity event type <area>.<action> in lower case, such as workout.finished",
                        at: stage.node("activity"))
                }
                publish = (from, topic, activity, stageNode)
            case "": break
            default:
                stage.fail("unknown stage kind '\(kind)': expected one of \(stageKinds.joined(separator: ", "))", at: stage.node("kind"))
            }
            m.absorb(stage)
        }
        guard let source else {
            m.fail("the pipeline has no 'source' stage", at: stagesNode)
            return nil
        }
        guard let window else {
            m.fail("the pipeline has no 'window' stage", at: stagesNode)
            return nil
        }
        guard let publish else {
            m.fail("the pipeline has no 'publish' stage", at: stagesNode)
            return nil
        }
        if window.from != source.id {
            m.fail("window stage '\(window.id)' reads from '\(window.from)', which is not the source stage '\(source.id)'", at: window.node)
        }
        if publish.from != window.id {
            m.fail("publish stage reads from '\(publish.from)', which is not the window stage '\(window.id)'", at: publish.node)
        }
        return PipelineDefinition(
            name: name, file: m.file, sourceTypes: source.types, window: window.spec, topicPrefix: publish.topic,
            activityType: publish.activity)
    }

    private static func sourceTypes(_ stage: inout YAMLMapping) -> [String] {
        guard let node = stage.node("events") else { return ["telemetry"] }
        let types = node.array().compactMap(\.string)
        if types != ["telemetry"] {
            stage.fail("'events' must be [telemetry]: windows aggregate telemetry samples", at: node)
        }
        return types
    }

    private static func windowSpec(_ stage: inout YAMLMapping) -> WindowSpec {
        let shape = stage.string("window", required: true) ?? ""
        let kind: WindowSpec.Kind
        switch shape {
        case "tumbling":
            kind = .tumbling(size: stage.duration("size", default: 60_000, min: 1000))
        case "hopping", "sliding":
            let size = stage.duration("size", default: 60_000, min: 1000)
            let slide = stage.duration("slide", default: size, min: 1000)
            if slide > size || size % slide != 0 {
                stage.fail("'slide' must divide 'size' (size \(size) ms, slide \(slide) ms)", at: stage.node("slide"))
            }
            kind = .hopping(size: size, slide: slide)
        case "session":
            kind = .session(gap: stage.duration("gap", default: 300_000, min: 1000))
        default:
            if !shape.isEmpty {
                stage.fail("unknown window '\(shape)': expected tumbling, hopping or session", at: stage.node("window"))
            }
            kind = .tumbling(size: 60_000)
        }
        let defaults = WindowSpec(kind: kind)
        return WindowSpec(
            kind: kind,
            allowedLateness: stage.duration("allowed_lateness", default: defaults.allowedLateness),
            outOfOrderness: stage.duration("out_of_orderness", default: defaults.outOfOrderness),
            idleTimeout: stage.duration("idle_timeout", default: defaults.idleTimeout),
            maxSampleGap: stage.duration("max_sample_gap", default: defaults.maxSampleGap, min: 1),
            minMovingSpeed: stage.double("min_moving_speed_mps", default: defaults.minMovingSpeed, in: 0...50),
            sessionTimeout: stage.duration("session_timeout", default: defaults.sessionTimeout, min: 60_000))
    }
}
