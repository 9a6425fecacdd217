import Activity
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
        do {
            _ = try BonusRules.parse(text, file: "bonus.yaml")
            Issue.record("accepted: \(text)")
        } catch let errors as DefinitionErrors {
            let matching = errors.errors.first { $0.message.contains(message) }
            #expect(matching != nil, "\(errors)")
            if let matching { #expect("\(matching.line):\(matching.column)" == location, "\(errors)") }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// Mutated rule files are either valid or refused with located errors; never a crash.
    @Test func fuzzedRuleFilesAreAcceptedOrRefusedWithALocation() {
        let seed = Array(BonusRules.embeddedDefault.utf8)
        let alphabet = Array("{}[]:,- \n#\"'abc019.&*!|>".utf8)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            var text = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<text.count, using: &rng)
                if Bool.random(using: &rng) { text[at] = alphabet.randomElement(using: &rng)! } else { text.remove(at: at) }
            }
            do {
                _ = try BonusRules.parse(String(decoding: text, as: UTF8.self), file: "fuzz.yaml")
            } catch let errors as DefinitionErrors {
                #expect(!errors.errors.isEmpty && errors.errors.allSatisfy { $0.line >= 1 && $0.column >= 1 })
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
    }
}
