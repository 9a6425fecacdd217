import ArgumentParser
import ClubClient
import ClubProtocol
import Foundation
import JSON

struct Workouts: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a user's workouts and whether each counts.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String

    func run() throws {
        let reply = try endpoints.client().request(WorkoutsRequest(user: user).bytes)
        try output.show(reply, as: WorkoutsReply.self) { list in
            guard !list.workouts.isEmpty else { return "\(list.user): no workouts" }
            var table = Table("START", "SPORT", "SOURCE", "KM", "TIME", "AVG HR", "COUNTED", "ID")
            for w in list.workouts {
                table.add(
                    Format.time(w.start), w.sport, w.source, String(format: "%.2f", w.distanceMeters / 1000), Format.duration(w.durationSeconds),
                    w.averageHeartRate.map { String(Int($0.rounded())) } ?? "-", w.counted.map { $0 ? "yes" : "copy" } ?? "pending", w.id)
            }
            return table.text
        }
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
    @Flag(help: "Print each file's exact JSON reply.") var json = false

    func run() throws {
        // Long rides make files of tens of megabytes: decoding and storing them takes seconds.
        let client = try endpoints.client(timeout: 120_000)
        var failed = false
        let progress = ProgressLine("importing files", total: files.count)
        for (n, file) in files.enumerated() {
            progress.update(n)
            let kind = format ?? URL(fileURLWithPath: file).pathExtension.lowercased()
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let request = ImportRequest(user: user, system: system, format: kind, dataBase64: data.base64EncodedString())
            let reply = try client.request(request.bytes)
            progress.finish()
            failed = failed || reply["ok"] != .bool(true)
            if json {
                print(reply.jsonText)
            } else if let error = CommandError(reply: reply) {
                FileHandle.standardError.write(Data("\(file): error \(error.code): \(error.message)\n".utf8))
            } else {
                let imported = try ImportReply(reply: reply)
                for w in imported.workouts {
                    let km = String(format: "%.2f", w.distanceMeters / 1000)
                    print("\(file): \(w.sport) \(km) km in \(Format.duration(w.durationSeconds)), \(Format.count(imported.samples)) samples\(w.duplicate == true ? " (imported before)" : "") — \(w.id)")
                }
            }
        }
        if failed { throw ExitCode.failure }
    }
}
