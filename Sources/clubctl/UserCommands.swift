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
