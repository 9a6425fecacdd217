import DefinitionTesting
import Definitions
import Foundation
import Testing

@testable import Training

@Suite struct CatalogueTests {
    static let exercises = """
        exercises:
          - id: easy-run
            title: Easy run
            sport: run
            category: endurance
            instructions: Run at a pace you can talk at.
            media:
              - {kind: video, url: "https://media.example.com/easy.mp4", sha256: "\(String(repeating: "ab", count: 32))"}
              - {kind: photo, url: "http://media.example.com/easy.jpg"}
            targets: {duration_s: 1200, distance_m: 3000}
          - id: squats
            title: Squats
            sport: strength
            targets: {reps: 20}
        """

    static let programmes = """
        programmes:
          - id: plan
            title: A plan
            sport: run
            weeks: 2
            steps:
              - {step: 1, day: 1, exercise: easy-run}
              - {step: 2, day: 3, exercise: easy-run, duration_s: 1500}
              - {step: 3, day: 3, exercise: squats, targets: {reps: 25}}
              - {step: 4, day: 14, exercise: easy-run, pace_s_per_km: 400}
        """

    static func load(_ files: [(String, String)]) throws -> Catalogue {
        try Catalogue.load(files: files.map { (name: $0.0, text: $0.1) })
    }

    @Test func filesLoadTogetherAndStepsResolveAcrossFiles() throws {
        let catalogue = try Self.load([("a.yaml", Self.programmes), ("b.yaml", Self.exercises)])
        #expect(catalogue.exercises.map(\.id) == ["easy-run", "squats"])
        #expect(catalogue.exercise("easy-run")?.media.count == 2)
        #expect(catalogue.exercise("squats")?.category == "general")
        let plan = try #require(catalogue.programme("plan"))
        #expect(plan.steps.map(\.day) == [1, 3, 3, 14])
        #expect(plan.steps[0].targets == Targets(durationSeconds: 1200, distanceMeters: 3000))
        #expect(plan.steps[1].targets == Targets(durationSeconds: 1500, distanceMeters: 3000))
        #expect(plan.steps[1].overrides == Targets(durationSeconds: 1500))
        #expect(plan.steps[2].targets == Targets(reps: 25))
        #expect(plan.steps[2].sport == "strength")
        #expect(plan.steps[3].targets.principal == .paceSecondsPerKm)
    }

    /// The shipped example catalogue is valid and holds the two plans docs/training.md describes.
    @Test func shippedExampleLoads() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/training").path
        let catalogue = try Catalogue.load(directory: directory)
        #expect(catalogue.programme("first-5k")?.weeks == 8)
        #expect(catalogue.programme("first-5k")?.steps.count == 24)
        #expect(catalogue.programme("strength-basics")?.steps.contains { $0.targets.reps != nil } == true)
    }

    /// Each kind of mistake, located at file:line:column: (file changed, text replaced, its
    /// replacement, the message, where).
    @Test(arguments: [
        ("e", "category: endurance", "category: endurance\n    colour: red", "unknown key 'colour'", "e.yaml:6:5"),
        ("e", "kind: video", "kind: audio", "unknown media kind 'audio'", "e.yaml:8:16"),
        ("e", "url: \"http://media.example.com/easy.jpg\"", "url: \"ftp://media.example.com/easy.jpg\"", "must be an http:// or https:// URL", "e.yaml:9:28"),
        ("e", "sha256: \"\(String(repeating: "ab", count: 32))\"", "sha256: \"abc\"", "64 lower-case hex digits", "e.yaml:8:74"),
        ("e", "duration_s: 1200", "duration_s: fast", "target 'duration_s' must be a number", "e.yaml:10:27"),
        ("e", "reps: 20", "reps: 2.5", "target 'reps' must be a whole number", "e.yaml:14:21"),
        ("e", "  - id: squats", "  - id: easy-run", "exercise id 'easy-run' is used twice", "e.yaml:11:9"),
        ("e", "    title: Squats\n", "", "missing required key 'title'", "e.yaml:11:5"),
        ("e", "id: squats", "id: \"squats here\"", "may hold 1 to 64 letters", "e.yaml:11:9"),
        ("e", "targets: {reps: 20}", "targets: {reps: 20, hr_zone: 7}", "target 'hr_zone' must be a whole number of zone in 1...5", "e.yaml:14:34"),
        ("p", "exercise: squats,", "exercise: lunges,", "names exercise 'lunges', which no catalogue file defines", "p.yaml:9:37"),
        ("p", "{step: 2, day: 3,", "{step: 2, day: 0,", "'day' must be a whole number from 1", "p.yaml:8:24"),
        ("p", "{step: 4, day: 14,", "{step: 4, day: 15,", "day 15 is beyond the programme's 2 weeks", "p.yaml:10:24"),
        ("p", "{step: 3, day: 3,", "{step: 3, day: 2,", "days go forward: step 3 is on day 2", "p.yaml:9:24"),
        ("p", "{step: 3,", "{step: 5,", "expected step 3 here", "p.yaml:9:16"),
        ("p", "duration_s: 1500}", "duration_s: 1500, speed: 3}", "unknown key 'speed'", "p.yaml:8:65"),
        ("p", "targets: {reps: 25}", "reps: 20, targets: {reps: 25}", "target 'reps' is set twice", "p.yaml:9:71"),
        ("p", "weeks: 2", "weeks: 200", "'weeks' must be an integer in 1...104", "p.yaml:5:12"),
        ("p", "pace_s_per_km: 400", "pace_s_per_km: \"4:00\"", "target 'pace_s_per_km' must be a number", "p.yaml:10:63"),
    ])
    func mistakesAreLocated(file: String, find: String, replace: String, message: String, at: String) {
        var files = ["e": Self.exercises, "p": Self.programmes]
        let text = files[file]!.replacingOccurrences(of: find, with: replace)
        #expect(text != files[file]!)
        files[file] = text
        let errors = DefinitionTesting.errors { _ = try Self.load([("e.yaml", files["e"]!), ("p.yaml", files["p"]!)]) }
        let found = errors.first { $0.message.contains(message) }.map { "\($0.file):\($0.line):\($0.column)" }
        #expect(found == at, "\(errors)")
    }

    @Test func duplicateProgrammeAcrossFilesAndUnknownTopLevelKey() {
        let errors = DefinitionTesting.errors {
            _ = try Self.load([("e.yaml", Self.exercises + "\nvideos: []\n"), ("p.yaml", Self.programmes), ("q.yaml", Self.programmes)])
        }
        #expect(errors.contains { $0.file == "e.yaml" && $0.message == "unknown key 'videos'" })
        #expect(errors.contains { $0.file == "q.yaml" && $0.message.contains("programme id 'plan' is used twice (first in p.yaml:2)") })
    }

    /// Every mistake of every file is reported, not the first only.
    @Test func everyMistakeIsReported() {
        let bad = Self.programmes.replacingOccurrences(of: "weeks: 2", with: "weeks: x")
            .replacingOccurrences(of: "exercise: squats", with: "exercise: nothing")
        let errors = DefinitionTesting.errors { _ = try Self.load([("e.yaml", Self.exercises.replacingOccurrences(of: "kind: photo", with: "kind: gif")), ("p.yaml", bad)]) }
        #expect(errors.count >= 3)
    }

    /// Mutated catalogues never crash the loader: each is loaded or refused with located mistakes.
    @Test func fuzzedCataloguesAreLoadedOrLocated() {
        for text in DefinitionTesting.mutations(of: Self.exercises + "\n" + Self.programmes, count: 400) {
            for error in DefinitionTesting.errors({ _ = try Self.load([("f.yaml", text)]) }) {
                #expect(error.line >= 1 && error.column >= 1 && error.file == "f.yaml", "\(error)")
            }
        }
    }
}
