import DefinitionTesting
import Definitions
import Pipeline
import Telemetry
import Testing

@Suite struct PipelineLoaderTests {
    @Test func embeddedDefaultAndShippedFilesAreValid() throws {
        let embedded = try PipelineLoader.load(files: [("default", PipelineLoader.embeddedDefault)])
        #expect(embedded.first?.window.kind == .tumbling(size: 60_000))
        #expect(embedded.first?.topicPrefix == "window")
    }

    @Test(arguments: [
        ("name: x\nstages:\n  - {id: in, kind: source}\n  - {id: w, kind: window, from: in, window: round, size: 1m}\n  - {id: o, kind: publish, from: w, topic: window}\n", "f.yaml:4:", "unknown window 'round'"),
        ("name: x\nstages:\n  - {id: in, kind: source}\n  - {id: w, kind: window, from: nowhere, window: tumbling, size: 1m}\n  - {id: o, kind: publish, from: w, topic: window}\n", "f.yaml:4:", "reads from 'nowhere'"),
        ("name: x\nstages:\n  - {id: in, kind: source}\n  - {id: w, kind: window, from: in, window: tumbling, size: 10 minutes}\n  - {id: o, kind: publish, from: w, topic: window}\n", "f.yaml:4:", "'size' must be a duration"),
        ("name: x\nstages:\n  - {id: in, kind: source}\n  - {id: w, kind: window, from: in, window: hopping, size: 1m, slide: 7s}\n  - {id: o, kind: publish, from: w, topic: window}\n", "f.yaml:4:", "'slide' must divide 'size'"),
        ("name: x\ncolour: red\nstages:\n  - {id: in, kind: source}\n", "f.yaml:2:", "unknown key 'colour'"),
        ("name: x\nstages: [\n", "f.yaml:", "invalid YAML"),
        ("name: x\nstages:\n  - {id: in, kind: source}\n  - {id: w, kind: window, from: in, window: tumbling}\n", "f.yaml:", "no 'publish' stage"),
    ])
    func mistakesAreLocated(text: String, location: String, message: String) {
        let errors = DefinitionTesting.errors { _ = try PipelineLoader.load(files: [("f.yaml", text)]) }
        #expect(errors.contains { $0.description.hasPrefix(location) && $0.message.contains(message) }, "\(errors)")
    }

    @Test func durationsParse() {
        #expect(YAMLMapping.parseDuration("250ms") == 250)
        #expect(YAMLMapping.parseDuration("5m") == 300_000)
        #expect(YAMLMapping.parseDuration("2h") == 7_200_000)
        #expect(YAMLMapping.parseDuration("5") == nil)
    }
}
