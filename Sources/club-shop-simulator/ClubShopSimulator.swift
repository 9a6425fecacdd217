import ArgumentParser
import Foundation

/// `club-shop-simulator`: a stand-in for the shop's HTTP API, for the shop adapter's tests and
/// for trying the adapter out (docs/user.md). Prints `listening <url>` once it serves.
@main
struct ClubShopSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "club-shop-simulator",
        abstract: "A simulated shop: members with personal data to read, endpoints that take offers and ledger entries.")

    @Option(help: "Port on 127.0.0.1 (0: any free one).") var port: UInt16 = 8080
    @Option(help: "Members the shop has.") var members = 12

    func run() async throws {
        let shop = try SimulatedShop(port: port, members: members)
        try await shop.run { url in
            print("listening \(url)")
            fflush(nil)  // every stream: the test reads this line through a pipe
        }
    }
}
