import Bonus
import Definitions
import Events
import JSON
import Offers
import Pipeline
import Storage

/// Serves the command socket's operations: `health`, `submit`, `stats`, `balance`,
/// `ledger`, `leaderboard`, `offers`, `offers.preview`, `reload` and `snapshot`. Every failure is `{"ok":false,"error":{"code","message"}}` with a stable code.
struct CommandHandler: CommandHandling {
    let runtime: PipelineRuntime
    let store: ClubStore
    let startedAt: Int64
    /// Largest request of any op but `import` (`ingest.max_frame_bytes`).
    let maxRequestBytes: Int
    /// Largest workout file `import` takes (`imports.max_file_bytes`).
    let maxImportFileBytes: Int
    let reloadPipelines: @Sendable () async -> [UInt8]

    /// Largest `import` request: the file in base64 and room for the other fields.
    var maxImportRequestBytes: Int { (maxImportFileBytes + 2) / 3 * 4 + 64 << 10 }

    static let version = "0.1.0"

    /// `leaderboard` queries read published standings: they are answered on the command
    /// thread itself, without a hop to another thread that a busy pipeline could delay.
    /// Only requests that name the op are parsed here: every other request is parsed once,
    /// by ``handle(request:)``.
    func handleAtOnce(request: [UInt8]) -> [UInt8]? {
        guard request.count < 4096, request.firstRange(of: Self.leaderboardOp) != nil,
            let parsed = try? CommandRequest.parse(request, maxDepth: 64), parsed.fields["op"] == "leaderboard"
        else { return nil }
        return leaderboard(parsed.fields)
    }

    private static let leaderboardOp = Array(#""leaderboard""#.utf8)
    private static let importOp = Array(#""import""#.utf8)

    /// Whether a request may be an `import` (its first 4 KiB name the op): the cheap test
    /// before a large request is parsed; the parsed op decides.
    static func mayBeImport(_ request: [UInt8]) -> Bool {
        request.prefix(4096).firstRange(of: importOp) != nil || request.suffix(4096).firstRange(of: importOp) != nil
    }

    func handle(request: [UInt8]) async -> [UInt8] {
        // Only `import` carries a file; every other request keeps the frame limit, checked
        // before parsing so that a large request of another op costs nothing.
        if request.count > maxRequestBytes && (request.count > maxImportRequestBytes || !Self.mayBeImport(request)) {
            return CommandReply.error(
                "frame_too_large",
                "request of \(request.count) bytes exceeds the limit of \(maxRequestBytes) (import takes files up to \(maxImportFileBytes) bytes, imports.max_file_bytes)")
        }
        let parsed: CommandRequest?
        do {
            parsed = try CommandRequest.parse(request, maxDepth: 64)
        } catch {
            return CommandReply.error("malformed_json", "the request is not JSON: \(error)")
        }
        guard let parsed else {
            return CommandReply.error("bad_request", "a request is a JSON object with an 'op' field")
        }
        let object = parsed.fields
        guard let opValue = object["op"] else { return CommandReply.error("missing_field", "missing required field 'op'") }
        guard let op = opValue.stringValue else {
            return CommandReply.error("wrong_type", "field 'op' must be a string, not \(opValue.typeName)")
        }
        if request.count > maxRequestBytes && op != "import" {
            return CommandReply.error("frame_too_large", "request of \(request.count) bytes exceeds the limit of \(maxRequestBytes)")
        }
        switch op {
        case "health": return await health()
        case "submit": return await submit(parsed.events)
        case "stats": return await stats(object)
        case "balance": return await balance(object)
        case "leaderboard": return leaderboard(object)
        case "ledger": return await ledger(object)
        case "offers": return await offers(object)
        case "workouts": return await workouts(object)
        case "import": return await importFile(object)
        case "forget_imports": return await forgetImports(object)
        case "offers.preview": return await previewOffers(object)
        case "reload": return await reloadPipelines()
        case "snapshot": return await snapshot()
        default:
            return CommandReply.error(
                "unknown_op", "unknown op '\(op.prefix(40))': expected health, submit, stats, balance, ledger, leaderboard, workouts, import, forget_imports, offers, offers.preview, reload or snapshot")
        }
    }

    func ok(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("ok", true)
        body(&w)
        w.endObject()
        return w.bytes
    }

    private func health() async -> [UInt8] {
        let status = await runtime.status()
        let bonus = await runtime.bonusProgress()
        let offersOffset = await runtime.offersProgress()
        let trainingOffset = await runtime.trainingProgress()
        let stages = await runtime.stageStatuses()
        let now = Clock.nowMillis()
        return ok { w in
            w.member("status", "ok")
            w.member("version", Self.version)
            w.member("uptime_s", Double(now - startedAt) / 1000)
            w.key("pipelines")
            w.beginArray()
            for name in status.pipelines { w.value(name) }
            w.endArray()
            w.member("users", status.users)
            w.member("open_windows", status.openWindows)
            w.member("inbox_depth", status.inboxDepth)
            w.member("samples_processed", status.processed)
            w.member("journal_position", Int(status.journalPosition))
            w.member("last_snapshot_at", Int(status.lastSnapshotAt))
            w.member("bonus_offset", Int(bonus.offset))
            w.member("bonus_processed", bonus.processed)
            w.member("offers_offset", Int(offersOffset))
            w.member("training_offset", Int(trainingOffset))
            w.key("stages")
            w.beginObject()
            for (name, stage) in stages {
                w.key(name)
                w.beginObject()
                w.member("offset", Int(stage.offset))
                w.member("lag", Int(stage.lag))
                w.member("state", stage.state.rawValue)
                w.key("last_error")
                if let error = stage.lastError { w.value(error) } else { w.null() }
                w.member("failures", stage.failures)
                w.endObject()
            }
            w.endObject()
        }
    }

    /// The reliable path: replies only after the accepted events are durable (fsynced).
    /// Events are decoded as one batch by the ingest decoder, straight from the request bytes.
    private func submit(_ eventsJSON: [UInt8]?) async -> [UInt8] {
        guard let eventsJSON else { return CommandReply.error("missing_field", "missing required field 'events'") }
        guard eventsJSON.first == UInt8(ascii: "[") else {
            return CommandReply.error("wrong_type", "field 'events' must be an array of events")
        }
        let now = Clock.nowMillis()
        let decoded = runtime.decode(eventsJSON, now: now)
        if let whole = decoded.rejections.first, whole.index == nil {
            return CommandReply.error(whole.reason.code, whole.message)
        }
        var rejected = decoded.rejections
        var samples: [TelemetrySample] = []
        var journal = JSONWriter(capacity: 128 * decoded.samples.count)
        journal.beginArray()
        var others: [ClubEvent] = []
        var seen: Set<String> = []
        var duplicates = 0
        for sample in decoded.samples {
            guard seen.insert("t\u{0}\(sample.user)\u{0}\(sample.device)\u{0}\(sample.session)\u{0}\(sample.ts)").inserted else {
                duplicates += 1
                continue
            }
            samples.append(sample)
            sample.write(to: &journal)
        }
        journal.endArray()
        for event in decoded.events {
            guard seen.insert("e\u{0}\(event.id)").inserted else {
                duplicates += 1
                continue
            }
            others.append(event)
        }
        var acceptedCount = samples.count
        if !samples.isEmpty || !others.isEmpty {
            do {
                let appended = try await runtime.submit(samples, payload: journal.bytes, events: others, receivedAt: now)
                acceptedCount += appended.filter { $0 == .new }.count
                duplicates += appended.filter { $0 == .duplicate }.count
                rejected += PipelineRuntime.refusals(appended, others)
            } catch is CancellationError {
                return CommandReply.error("shutting_down", "the daemon is shutting down; retry after it restarts")
            } catch {
                return CommandReply.error("storage_failed", "the events could not be made durable: \(error)")
            }
        }
        rejected.sort { ($0.index ?? 0) < ($1.index ?? 0) }
        await runtime.publishRejections(rejected, source: "submit")
        return ok { w in
            w.member("accepted", acceptedCount)
            w.member("duplicates", duplicates)
            w.key("rejected")
            w.beginArray()
            for r in rejected {
                w.beginObject()
                w.member("index", r.index ?? 0)
                w.member("code", r.reason.code)
                w.member("message", r.message)
                w.endObject()
            }
            w.endArray()
        }
    }

    private func stats(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        let bounds: [Int64]
        do { bounds = try timeBounds(request) } catch { return error.reply }
        let closed: [ClubStore.WindowRecord]
        do {
            closed = try await store.windows(user: user, from: bounds[0], to: bounds[1])
        } catch {
            return CommandReply.error("storage_failed", "cannot read window history: \(error)")
        }
        let open = await runtime.currentWindows(of: user)
        return ok { w in
            w.member("user", user)
            w.key("windows")
            w.beginArray()
            var closedKeys: Set<String> = []
            for record in closed {
                closedKeys.insert("\(record.pipeline)@\(record.start)")
                w.raw([UInt8(ascii: "{")] + record.result + [UInt8(ascii: "}")])
            }
            // A closed window still correctable is both recorded and held: list it once.
            for record in open where !closedKeys.contains("\(record.pipeline)@\(record.start)") {
                w.raw([UInt8(ascii: "{")] + record.result + [UInt8(ascii: "}")])
            }
            w.endArray()
        }
    }

    /// An error reply, as a value a helper can return.
    struct Refusal: Error {
        let reply: [UInt8]
        init(_ code: String, _ message: String) { reply = CommandReply.error(code, message) }
    }

    /// The request's optional `from` and `to` (epoch ms), unbounded where absent.
    func timeBounds(_ request: JSONObject) throws(Refusal) -> [Int64] {
        var bounds: [Int64] = [Int64.min / 4, Int64.max / 4]
        for (i, key) in ["from", "to"].enumerated() {
            guard let value = request[key] else { continue }
            guard let ms = value.int64Value else { throw Refusal("wrong_type", "field '\(key)' must be integer epoch milliseconds") }
            bounds[i] = ms
        }
        return bounds
    }

    func requiredUser(_ request: JSONObject) throws(Refusal) -> String {
        guard let value = request["user"] else { throw Refusal("missing_field", "missing required field 'user'") }
        guard let user = value.stringValue, !user.isEmpty else {
            throw Refusal("wrong_type", "field 'user' must be a non-empty string, not \(value.typeName)")
        }
        return user
    }

    private func balance(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        let points = await runtime.balance(of: user)
        return ok { w in
            w.member("user", user)
            w.member("points", points)
        }
    }

    /// The user's ledger, oldest first (the newest `limit` entries, default 1000).
    private func ledger(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        var limit = 1000
        if let value = request["limit"] {
            guard let n = value.int64Value, n >= 1, n <= 100_000 else {
                return CommandReply.error("wrong_type", "field 'limit' must be an integer in 1...100000")
            }
            limit = Int(n)
        }
        let entries: [LedgerEntry]
        do {
            entries = try await store.ledger(user: user, limit: limit)
        } catch {
            return CommandReply.error("storage_failed", "cannot read the ledger: \(error)")
        }
        return ok { w in
            w.member("user", user)
            w.key("entries")
            w.beginArray()
            for e in entries {
                w.beginObject()
                w.member("event", e.event)
                w.member("points", e.points)
                w.member("rule", e.rule)
                w.member("at", Int(e.at))
                w.member("kind", e.kind.rawValue)
                w.member("balance", e.balance)
                w.endObject()
            }
            w.endArray()
        }
    }

    /// The offers valid now for a user: targeted at them, for their region, and general.
    private func offers(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        let offers: [[UInt8]]
        do {
            offers = try await runtime.validOffers(for: user)
        } catch {
            return CommandReply.error("storage_failed", "cannot read offers: \(error)")
        }
        return ok { w in
            w.member("user", user)
            w.key("offers")
            w.beginArray()
            for members in offers {
                w.beginObject()
                w.raw(members)
                w.endObject()
            }
            w.endArray()
        }
    }

    /// What a rule file would do over recorded history (`rules`: the file's YAML text;
    /// `since`: a duration back from now such as `30d`, or epoch milliseconds).
    private func previewOffers(_ request: JSONObject) async -> [UInt8] {
        guard let text = request["rules"]?.stringValue else {
            return CommandReply.error("missing_field", "missing required field 'rules' (the YAML text of an offer rules file)")
        }
        let now = Clock.nowMillis()
        var since = now - 30 * 86_400_000
        if let value = request["since"] {
            if let ms = value.int64Value {
                since = ms
            } else if let duration = value.stringValue.flatMap(YAMLMapping.parseDuration) {
                since = now - duration
            } else {
                return CommandReply.error("wrong_type", "field 'since' must be a duration such as 30d or epoch milliseconds")
            }
        }
        let rules: OfferRules
        do {
            rules = try OfferRules.parse(text, file: request["file"]?.stringValue ?? "<preview>")
        } catch {
            return CommandReply.error("invalid_definitions", "\(error)")
        }
        do {
            let preview = try await runtime.previewOffers(rules, since: since, now: now)
            return ok { w in
                w.member("since", Int(since))
                w.raw(preview.members)
            }
        } catch {
            return CommandReply.error("storage_failed", "cannot replay the activity log: \(error)")
        }
    }

    /// A board's top entries in a period (the current one unless `period` names another, such
    /// as `2026-W48`), and with `user` that user's own rank and value.
    private func leaderboard(_ request: JSONObject) -> [UInt8] {
        var text: [String: String] = [:]
        for key in ["board", "period", "region", "user"] {
            guard let value = request[key] else { continue }
            guard let string = value.stringValue, !string.isEmpty else {
                return CommandReply.error("wrong_type", "field '\(key)' must be a non-empty string, not \(value.typeName)")
            }
            text[key] = string
        }
        guard let board = text["board"] else { return CommandReply.error("missing_field", "missing required field 'board'") }
        do {
            let members = try runtime.leaderboard(board: board, period: text["period"], scope: text["region"], user: text["user"])
            return ok { w in w.raw(members) }
        } catch {
            return CommandReply.error(error.code, error.message)
        }
    }

    private func snapshot() async -> [UInt8] {
        do {
            let taken = try await runtime.snapshot()
            return ok { w in
                w.member("taken_at", Int(taken.takenAt))
                w.member("bytes", taken.byteCount)
                w.member("journal_position", Int(taken.journalPosition))
            }
        } catch {
            return CommandReply.error("snapshot_failed", "\(error)")
        }
    }
}
