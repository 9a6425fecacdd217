import ArgumentParser
import ClubProtocol

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
