import ArgumentParser
import ClubClient
import ClubProtocol
import Foundation
import JSON

struct Offers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a user's valid offers, or preview what a rule file would issue.",
        subcommands: [List.self, Preview.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the offers valid now for a user: targeted, regional, general.")
        @OptionGroup var endpoints: Endpoints
        @OptionGroup var output: OutputOptions
        @Argument(help: "The user id.") var user: String

        func run() throws {
            let reply = try endpoints.client().request(OffersRequest(user: user).bytes)
            try output.show(reply, as: OffersReply.self) { list in
                let offers = list.offers.compactMap { try? OfferPayload(payload: $0.value) }
                guard !offers.isEmpty else { return "\(list.user): no valid offers" }
                var table = Table("CODE", "FOR", "RULE", "GIVES", "VALID UNTIL", "TEXT")
                for o in offers {
                    let gives = o.discountPercent.map { "\(Format.number($0)) %" } ?? o.discountAmount.map { "\(Format.number($0)) off" } ?? "-"
                    let audience = o.user.map { _ in "you" } ?? o.region ?? "everyone"
                    table.add(o.code, audience, o.rule, gives, Format.time(o.validUntil), o.text)
                }
                return table.text
            }
        }
    }

    struct Preview: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay recorded activity through a rule file without issuing anything.",
            discussion: "Reports how many offers the rules would issue, to how many users, per region and per rule (with its budget).")
        @OptionGroup var endpoints: Endpoints
        @Argument(help: "An offer rules file (YAML).") var ruleFile: String
        @Option(help: "How far back to replay: a duration such as 30d or 12h.") var since = "30d"

        func run() throws {
            let text = try String(contentsOfFile: ruleFile, encoding: .utf8)
            let request = OffersPreviewRequest(rules: text, since: .ago(since), file: ruleFile)
            let reply = try endpoints.client(timeout: 60_000).request(request.bytes)
            guard reply["ok"] == .bool(true) else {
                FileHandle.standardError.write(Data("\(reply["error"]?["message"]?.stringValue ?? reply.jsonText)\n".utf8))
                throw ExitCode.failure
            }
            let count = { (key: String) in reply[key]?.int64Value ?? 0 }
            print("replayed \(count("events_replayed")) events: \(count("offers")) offers to \(count("users")) users")
            for member in reply["by_region"]?.objectValue?.members ?? [] {
                print("  region \(member.key): \(member.value.int64Value ?? 0)")
            }
            for rule in reply["rules"]?.arrayValue ?? [] {
                let budget = rule["budget"]?.int64Value.map { " of a budget of \($0)" } ?? ""
                print("  rule \(rule["rule"]?.stringValue ?? "?"): \(rule["offers"]?.int64Value ?? 0) offers\(budget)")
            }
            print(reply.jsonText)
        }
    }
}
