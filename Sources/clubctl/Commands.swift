import ArgumentParser
import ClubClient
import ClubProtocol
import Foundation
import JSON
import ZMQ

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the daemon whether it is healthy: its figures, and each stage's offset, lag and state.",
        discussion: "A stage 'retrying' cannot write to storage (a full disk): it resumes by itself when the fault clears.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions

    func run() throws {
        let reply = try endpoints.client().request(HealthRequest().bytes)
        try output.show(reply, as: HealthReply.self) { h in
            var stages = Table("STAGE", "OFFSET", "LAG", "STATE", "FAILURES", "LAST ERROR")
            for s in h.stages {
                stages.add(s.name, Format.count(s.offset), Format.count(s.lag), s.state, Format.count(s.failures), s.lastError ?? "-")
            }
            return """
                clubd \(h.version): \(h.status), up \(Format.duration(h.uptimeSeconds))
                pipelines: \(h.pipelines.joined(separator: ", "))
                storage: \(h.storage.map(Self.storage) ?? "-")
                users \(Format.count(h.users)), open windows \(Format.count(h.openWindows)), inbox \(h.inboxDepth), \
                samples \(Format.count(h.samplesProcessed)), journal \(h.journalPosition), last snapshot \(Format.time(h.lastSnapshotAt))

                \(stages.text)
                """
        }
    }

    /// The engine and where its state is; on a shared PostgreSQL database, which instance
    /// answered (the lease's holder: a standby relays) and its fencing token.
    static func storage(_ s: HealthReply.Storage) -> String {
        var text = "\(s.engine) (\(s.location))"
        if let instance = s.instance { text += ", answered by instance \(instance)" }
        if let token = s.leaseToken { text += " holding the lease with token \(token)" }
        if !s.instances.isEmpty {
            text += "\ninstances: " + s.instances.map { "\($0.instance) (\($0.role), seen \(Format.duration(Double($0.seenMillisAgo) / 1000)) ago)" }
                .joined(separator: ", ")
        }
        return text
    }
}

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take a snapshot now: the pipelines' state and the history since the last one, written in one transaction.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions

    func run() throws {
        let reply = try endpoints.client().request(SnapshotRequest().bytes)
        try output.show(reply, as: SnapshotReply.self) { s in
            "snapshot taken at \(Format.time(s.takenAt)): \(Format.count(s.byteCount)) bytes, journal position \(Format.count(s.journalPosition))"
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a user's window aggregates, closed and open.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String
    @Option(help: "From, epoch ms.") var from: Int?
    @Option(help: "To, epoch ms.") var to: Int?

    func run() throws {
        let request = StatsRequest(user: user, from: from.map(Int64.init), to: to.map(Int64.init))
        let reply = try endpoints.client().request(request.bytes)
        try output.show(reply, as: StatsReply.self) { stats in
            let windows = stats.windows.compactMap { try? WindowPayload(payload: $0.value) }
            guard !windows.isEmpty else { return "\(stats.user): no windows" }
            var table = Table("PIPELINE", "WINDOW", "START", "END", "SPORT", "SAMPLES", "KM", "MOVING", "AVG HR", "STATE")
            for w in windows {
                table.add(
                    w.pipeline, w.window, Format.time(w.start), Format.time(w.end), w.sport ?? "-", "\(w.samples)",
                    String(format: "%.3f", w.distance / 1000), Format.duration(w.movingTime),
                    w.averageHeartRate.map { String(format: "%.0f", $0) } ?? "-", w.open ? "open" : w.update ? "corrected" : "closed")
            }
            return table.text
        }
    }
}

struct Balance: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a user's bonus points.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String

    func run() throws {
        let reply = try endpoints.client().request(BalanceRequest(user: user).bytes)
        try output.show(reply, as: BalanceReply.self) { "\($0.user): \(Format.count($0.points)) points" }
    }
}

struct Ledger: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a user's points ledger, oldest entry first.")
    @OptionGroup var endpoints: Endpoints
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var user: String
    @Option(help: "How many of the newest entries.") var limit = 1000

    func run() throws {
        let reply = try endpoints.client().request(LedgerRequest(user: user, limit: limit).bytes)
        try output.show(reply, as: LedgerReply.self) { ledger in
            guard !ledger.entries.isEmpty else { return "\(ledger.user): no entries" }
            var table = Table("BOOKED", "KIND", "POINTS", "BALANCE", "RULE", "EVENT")
            for e in ledger.entries {
                table.add(Format.time(e.at), e.kind, (e.points > 0 ? "+" : "") + Format.count(e.points), Format.count(e.balance), e.rule, e.event)
            }
            return table.text
        }
    }
}

struct Leaderboard: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a leaderboard's top entries, and a user's own line.")
    @OptionGroup var endpoints: Endpoints
    @Argument(help: "The board id, as declared in Pipelines/leaderboards.yaml.") var board: String
    @Option(help: "A period key such as 2026-W48, 2026-11 or 2026-11-27; the current period by default.") var period: String?
    @Option(help: "The region, for boards ranked per region.") var region: String?
    @Option(help: "The group, for boards ranked per group (scope: each_group).") var group: String?
    @Option(help: "Also show this user's rank and value.") var user: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        let request = LeaderboardRequest(board: board, period: period, region: region, group: group, user: user)
        let reply = try endpoints.client().request(request.bytes)
        try output.show(reply, as: LeaderboardReply.self) { board in
            var lines = ["\(board.board) (\(board.metric)), \(board.period), \(board.scope): \(Format.count(board.ranked)) ranked"]
            if !board.entries.isEmpty {
                var table = Table("RANK", "VALUE", "USER")
                for e in board.entries { table.add(String(e.rank), Format.number(e.value), e.user) }
                lines.append(table.text)
            }
            switch board.own {
            case nil: break
            case .unranked: lines.append("\(user ?? ""): not ranked")
            case .ranked(let e): lines.append("\(e.user): rank \(e.rank), \(Format.number(e.value))")
            }
            return lines.joined(separator: "\n")
        }
    }
}

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send events from a JSON-lines file: PUSH (fire-and-forget) or --reliable via submit.")
    @OptionGroup var endpoints: Endpoints
    @Argument(help: "A file with one JSON event (or array of events) per line; '-' reads stdin.") var file: String
    @Flag(help: "Use the command socket's submit: acknowledged, durable, retried on timeout.") var reliable = false
    @Option(help: "Events per submit with --reliable.") var batch = 500

    func run() throws {
        let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        let lines = data.split(separator: UInt8(ascii: "\n")).map { [UInt8]($0) }.filter { !$0.allSatisfy { $0 == 32 || $0 == 13 } }
        let context = ZMQContext()
        if !reliable {
            let push = try endpoints.socket(.push, endpoints.ingest, context: context, linger: 5000)
            let progress = ProgressLine("pushing frames", total: lines.count)
            for (n, line) in lines.enumerated() {
                try push.send(line)
                progress.update(n + 1)
            }
            progress.finish()
            push.close()
            print("pushed \(lines.count) frames")
            return
        }
        let client = try endpoints.client(context: context)
        var accepted = 0, duplicates = 0, rejected = 0
        var events: [JSONValue] = []
        for line in lines {
            guard let value = try? JSONValue.parse(line) else {
                rejected += 1
                continue
            }
            events += value.arrayValue ?? [value]
        }
        let progress = ProgressLine("submitting events", total: events.count)
        defer { progress.finish() }
        for start in stride(from: 0, to: events.count, by: max(1, batch)) {
            progress.update(start)
            let chunk = Array(events[start..<min(events.count, start + batch)])
            let reply = try client.request(SubmitRequest(events: chunk).bytes)
            guard reply["ok"] == .bool(true) else { throw ClientError("submit refused: \(reply.jsonText)") }
            accepted += reply["accepted"]?.int64Value.map(Int.init) ?? 0
            duplicates += reply["duplicates"]?.int64Value.map(Int.init) ?? 0
            for r in reply["rejected"]?.arrayValue ?? [] {
                rejected += 1
                FileHandle.standardError.write(Data("rejected: \(r.jsonText)\n".utf8))
            }
        }
        print("accepted \(accepted), duplicates \(duplicates), rejected \(rejected)")
    }
}

struct Subscribe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print published messages, one line each: topic and JSON.")
    @OptionGroup var endpoints: Endpoints
    @Argument(help: "Topic prefix, such as 'window.' (all topics when omitted).") var prefix = ""
    @Option(help: "Exit after this many messages.") var count: Int?

    func run() throws {
        let socket = try endpoints.socket(.sub, endpoints.publish)
        try socket.subscribe(prefix)
        var seen = 0
        while count.map({ seen < $0 }) ?? true {
            guard let frames = try socket.receiveMessage(), frames.count == 2 else { continue }
            print("\(String(decoding: frames[0], as: UTF8.self)) \(String(decoding: frames[1], as: UTF8.self))")
            fflush(nil)
            seen += 1
        }
    }
}
