import Bonus
import DefinitionTesting
import Definitions
import Foundation
import Testing

@Suite struct BonusRulesLoadingTests {
    @Test func embeddedDefaultIsValid() throws {
        #expect(try BonusRules.parse(BonusRules.embeddedDefault, file: "default").rules.count >= 5)
    }

    /// config/bonus.yaml documents the embedded programme: they must not drift apart.
    @Test func documentedFileEqualsTheEmbeddedProgramme() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/bonus.yaml").path
        #expect(try BonusRules.load(path: path) == BonusRules.parse(BonusRules.embeddedDefault, file: "default"))
    }

    @Test(arguments: [
        ("rules: []\ntime_zone: Mars/Base", "2:12", "unknown time zone"),
        ("caps: {daily: 0}\nrules: []", "1:15", "'daily' must be an integer"),
        ("rules:\n  - {id: a, on: workout}", "2:5", "a rule needs an effect"),
        ("rules:\n  - {id: a, on: Workout, points: 1}", "2:17", "'on' must name event types"),
        ("rules:\n  - {id: a, on: workout, points: 1}\n  - {id: a, on: workout, points: 2}", "3:10", "duplicate rule id 'a'"),
        ("rules:\n  - {id: a, on: workout, points: 1, color: red}", "2:37", "unknown key 'color'"),
        ("rules:\n  - {id: a, on: workout, multiply: 2, points: 1}", "2:36", "takes no 'points'"),
        ("rules:\n  - {id: a, on: workout, points: 1, when: {d: {near: 3}}}", "2:47", "needs one of at_least"),
        ("rules:\n  - {id: a, on: workout, points: 1, per: {unit: 10}}", "2:42", "missing required key 'field'"),
        ("rules: {a: 1}", "1:8", "'rules' must be a list"),
        ("expire_after: soon\nrules: []", "1:15", "must be a duration"),
        ("rules: [", "2:1", "invalid YAML"),
    ])
    func mistakesAreLocated(text: String, location: String, message: String) {
        #expect(DefinitionTesting.location(of: message) { _ = try BonusRules.parse(text, file: "bonus.yaml") } == location)
    }

    /// Mutated rule files are either valid or refused with located errors; never a crash.
    @Test func fuzzedRuleFilesAreAcceptedOrRefusedWithALocation() {
        for text in DefinitionTesting.mutations(of: BonusRules.embeddedDefault, count: 1_000) {
            let errors = DefinitionTesting.errors { _ = try BonusRules.parse(text, file: "fuzz.yaml") }
            #expect(errors.allSatisfy { $0.line >= 1 && $0.column >= 1 }, "\(errors)")
        }
    }
}
