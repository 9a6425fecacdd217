import ArgumentParser
import ClubClient
import Foundation
import JSON

struct Workouts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a user's workouts and whether each counts.")
    @OptionGroup var endpoints: Endpoints
    @Argument(help: "The user id.") var user: String

    func run() throws {
        print(try endpoints.client().request(["op": "workouts", "user": .string(user)]).jsonText)
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import FIT, GPX or TCX files for a user through the daemon (consent and duplicates are checked there).",
        discussion: "The user needs an active connection to the system first: a connection event with state active.")
    @OptionGroup var endpoints: Endpoints
    @Argument(help: "Workout files (.fit, .gpx, .tcx).") var files: [String]
    @Option(help: "The user id.") var user: String
    @Option(help: "The external system the files come from, such as garmin, polar or strava.") var system: String
    @Option(help: "fit, gpx or tcx; by default from each file's extension.") var format: String?

    func run() throws {
        // Long rides make files of tens of megabytes: decoding and storing them takes seconds.
        let client = endpoints.client(timeout: 120_000)
        var failed = false
        for file in files {
            let kind = format ?? URL(fileURLWithPath: file).pathExtension.lowercased()
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let reply = try client.request([
                "op": "import", "user": .string(user), "system": .string(system), "format": .string(kind),
                "data_base64": .string(data.base64EncodedString()),
            ])
            print("\(file): \(reply.jsonText)")
            failed = failed || reply["ok"] != .bool(true)
        }
        if failed { throw ExitCode.failure }
    }
}
