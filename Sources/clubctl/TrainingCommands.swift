import ArgumentParser
import ClubClient
import ClubProtocol
import Foundation
import JSON

/// `clubctl exercises|programmes|programme|progress`: the training catalogue and a member's
/// progress through programmes.
struct Exercises: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the catalogue's exercises (of a sport or category).")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Option(help: "Only exercises of this sport.") var sport: String?
    @Option(help: "Only exercises of this category.") var category: String?

    func run() throws {
        let reply = try endpoints.client().request(ExercisesRequest(sport: sport, category: category).bytes)
        try output.show(reply, as: ExercisesReply.self) { list in
            guard !list.exercises.isEmpty else { return "no exercises" }
            var table = Table("ID", "SPORT", "CATEGORY", "TARGETS", "MEDIA", "TITLE")
            for e in list.exercises {
                table.add(e.id, e.sport, e.category, Format.targets(e.targets), String(e.media.count), e.title)
            }
            return table.text
        }
    }
}

struct Programmes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the catalogue's programmes.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions

    func run() throws {
        let reply = try endpoints.client().request(ProgrammesRequest().bytes)
        try output.show(reply, as: ProgrammesReply.self) { list in
            guard !list.programmes.isEmpty else { return "no programmes" }
            var table = Table("ID", "SPORT", "WEEKS", "STEPS", "TITLE")
            for p in list.programmes { table.add(p.id, p.sport, String(p.weeks), String(p.steps), p.title) }
            return table.text
        }
    }
}

struct ProgrammeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "programme", abstract: "Print a programme's steps and their exercises.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The programme id.") var programme: String

    func run() throws {
        let reply = try endpoints.client().request(ProgrammeRequest(programme: programme).bytes)
        try output.show(reply, as: ProgrammeReply.self) { p in
            var table = Table("STEP", "DAY", "EXERCISE", "TARGETS", "TITLE")
            for s in p.steps { table.add(String(s.step), String(s.day), s.exercise.id, Format.targets(s.targets), s.exercise.title) }
            return "\(p.title) (\(p.id)): \(p.sport), \(p.weeks) weeks, \(p.steps.count) steps\n" + table.text
        }
    }
}

struct Progress: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a member's programmes and the state of each step.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String

    func run() throws {
        let reply = try endpoints.client().request(ProgressRequest(user: user).bytes)
        try output.show(reply, as: ProgressReply.self) { progress in
            guard !progress.programmes.isEmpty else { return "\(progress.user): no programmes" }
            return progress.programmes.map { e in
                let done = e.steps.filter { $0.state == "done" }.count
                let missed = e.steps.filter { $0.state == "missed" }.count
                var table = Table("STEP", "DAY", "STATE", "DUE FROM", "DUE UNTIL", "RESULT", "PERCENTILE", "WORKOUT")
                for s in e.steps {
                    table.add(
                        String(s.step), String(s.day), s.state, Format.time(s.from), Format.time(s.to), s.result.map { String(format: "%.1f", $0) } ?? "-",
                        s.percentile.map { String(format: "%.1f", $0) } ?? "-", s.workout ?? "-")
                }
                return "\(e.programme): \(e.state), started \(Format.time(e.start)), \(done) done, \(missed) missed of \(e.steps.count)"
                    + (e.pausedSeconds > 0 ? ", paused \(Format.duration(e.pausedSeconds))" : "") + "\n" + table.text
            }.joined(separator: "\n\n")
        }
    }
}

extension Format {
    /// `5.0 km, 24m 00s` — the targets that are set.
    static func targets(_ t: TargetValues) -> String {
        var parts: [String] = []
        if let d = t.distanceMeters { parts.append(String(format: "%.1f km", d / 1000)) }
        if let s = t.durationSeconds { parts.append(duration(s)) }
        if let p = t.paceSecondsPerKm { parts.append("pace \(duration(p))/km") }
        if let r = t.reps { parts.append("\(r) reps") }
        if let z = t.hrZone { parts.append("HR zone \(z)") }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }
}
