import ArgumentParser
import ClubProtocol
import Foundation

/// The User subsystem's commands.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "List a member's devices.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String

    func run() throws {
        let reply = try endpoints.client().request(DevicesRequest(user: user).bytes)
        try output.show(reply, as: DevicesReply.self) { d in
            guard !d.devices.isEmpty else { return "\(d.user): no devices" }
            var table = Table("DEVICE", "KIND", "REGISTERED", "STATE")
            for x in d.devices { table.add(x.device, x.kind, Format.time(x.registeredAt), x.retired ? "retired" : "active") }
            return table.text
        }
    }
}

struct GearCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gear", abstract: "List a member's gear with its mileage.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String

    func run() throws {
        let reply = try endpoints.client().request(GearRequest(user: user).bytes)
        try output.show(reply, as: GearReply.self) { g in
            guard !g.gear.isEmpty else { return "\(g.user): no gear" }
            var table = Table("GEAR", "KIND", "TITLE", "SPORTS", "KM", "TIME", "WORKOUTS", "RETIRE AT KM", "STATE")
            for x in g.gear {
                table.add(
                    x.gear, x.kind, x.title ?? "-", x.sports.joined(separator: ","), String(format: "%.1f", x.distance / 1000),
                    Format.duration(x.durationSeconds), "\(x.workouts)", x.retireAt.map { String(format: "%.0f", $0 / 1000) } ?? "-",
                    x.retired ? "retired" : "active")
            }
            return table.text
        }
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Print a member's telemetry history: raw samples, or minute or day rollups.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String
    @Option(help: "sample, minute or day.") var resolution = "minute"
    @Option(help: "From, epoch ms (default: the last 24 hours; 30 days for day).") var from: Int?
    @Option(help: "To, epoch ms (default: now).") var to: Int?
    @Option(help: "At most this many points (1...100000).") var limit = 10_000

    func run() throws {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        let to = to ?? now + 60_000
        let from = from ?? to - (resolution == "day" ? 30 : 1) * 86_400_000
        let request = HistoryRequest(user: user, from: Int64(from), to: Int64(to), resolution: resolution, limit: limit)
        let reply = try endpoints.client().request(request.bytes)
        try output.show(reply, as: HistoryReply.self) { h in
            var text: String
            if h.resolution == "sample" {
                guard !h.samples.isEmpty else { return "\(h.user): no samples in range" }
                var table = Table("TIME", "DEVICE", "SESSION", "SPORT", "DIST M", "HR", "SPEED", "LAT", "LON")
                for s in h.samples {
                    table.add(
                        Format.time(Int(s.ts)), s.device, s.session, s.sport ?? "-", s.distance.map { String(format: "%.1f", $0) } ?? "-",
                        s.heartRate.map { String(format: "%.0f", $0) } ?? "-", s.speed.map { String(format: "%.2f", $0) } ?? "-",
                        s.latitude.map { String(format: "%.5f", $0) } ?? "-", s.longitude.map { String(format: "%.5f", $0) } ?? "-")
                }
                text = table.text
            } else {
                guard !h.rollups.isEmpty else { return "\(h.user): no \(h.resolution)s with samples in range" }
                var table = Table(h.resolution == "day" ? "DAY (UTC)" : "MINUTE", "SAMPLES", "KM", "MOVING", "AVG HR", "MAX HR")
                for r in h.rollups {
                    table.add(
                        Format.time(r.start), "\(r.samples)", String(format: "%.3f", r.distance / 1000), Format.duration(r.movingTime),
                        r.averageHeartRate.map { String(format: "%.0f", $0) } ?? "-", r.maxHeartRate.map { String(format: "%.0f", $0) } ?? "-")
                }
                text = table.text
            }
            if let next = h.nextFrom { text += "\n(truncated: continue with --from \(next))" }
            return text
        }
    }
}
