import Events
import JSON
import Pipeline
import Storage

/// Serves the command socket's operations: `health`, `submit`, `stats`, `reload` and
/// `snapshot`. Every failure is `{"ok":false,"error":{"code","message"}}` with a stable code.
struct CommandHandler: CommandHandling {
    let runtime: PipelineRuntime
    let store: ClubStore
    let startedAt: Int64
    let maxEventsPerSubmit: Int
    let reloadPipelines: @Sendable () async -> [UInt8]

    static let version = "0.1.0"

    /// Operations of the contract that later versions serve.
    static let plannedOps: Set<String> = ["leaderboard", "balance", "ledger", "offers", "workouts", "import"]

    func handle(request: [UInt8]) async -> [UInt8] {
        let value: JSONValue
        do {
            value = try JSONValue.parse(request, maxDepth: 64)
        } catch {
            return CommandReply.error("malformed_json", "the request is not JSON: \(error)")
        }
        guard case .object(let object) = value else {
            return CommandReply.error("bad_request", "a request is a JSON object with an 'op' field")
        }
        guard let opValue = object["op"] else { return CommandReply.error("missing_field", "missing required field 'op'") }
        guard let op = opValue.stringValue else {
            return CommandReply.error("wrong_type", "field 'op' must be a string, not \(opValue.typeName)")
        }
        switch op {
        case "health": return await health()
        case "submit": return await submit(object)
        case "stats": return await stats(object)
        case "reload": return await reloadPipelines()
        case "snapshot": return await snapshot()
        case _ where Self.plannedOps.contains(op):
            return CommandReply.error("unsupported_op", "'\(op)' is part of the contract but this daemon version does not serve it yet")
        default:
            return CommandReply.error(
                "unknown_op", "unknown op '\(op.prefix(40))': expected health, submit, stats, reload or snapshot")
        }
    }

    private func ok(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("ok", true)
        body(&w)
        w.endObject()
        return w.bytes
    }

    private func health() async -> [UInt8] {
        let status = await runtime.status()
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
        }
    }

    /// The reliable path: replies only after the accepted events are journaled (fsynced).
    private func submit(_ request: JSONObject) async -> [UInt8] {
        guard let eventsValue = request["events"] else { return CommandReply.error("missing_field", "missing required field 'events'") }
        guard case .array(let events) = eventsValue else {
            return CommandReply.error("wrong_type", "field 'events' must be an array of events, not \(eventsValue.typeName)")
        }
        guard events.count <= maxEventsPerSubmit else {
            return CommandReply.error("batch_too_large", "a submit holds at most \(maxEventsPerSubmit) events")
        }
        let now = Clock.nowMillis()
        var accepted: [TelemetrySample] = []
        var acceptedJSON: [JSONValue] = []
        var rejected: [Rejection] = []
        var seen: Set<String> = []
        var duplicates = 0
        for (index, event) in events.enumerated() {
            let decoded = runtime.decode(event.serialized(), now: now)
            if let rejection = decoded.rejections.first {
                rejected.append(Rejection(rejection.reason, rejection.message, index: index, excerpt: rejection.excerpt))
            } else if let sample = decoded.samples.first {
                guard seen.insert("\(sample.device)\u{0}\(sample.session)\u{0}\(sample.ts)").inserted else {
                    duplicates += 1
                    continue
                }
                accepted.append(sample)
                acceptedJSON.append(event)
            } else if let other = decoded.events.first {
                rejected.append(
                    Rejection(.unsupportedType, "event type '\(other.type)' is valid but no subsystem of this daemon consumes it yet", index: index))
            }
        }
        if !accepted.isEmpty {
            do {
                guard try await runtime.submit(accepted, payload: JSONValue.array(acceptedJSON).serialized(), receivedAt: now) else {
                    return CommandReply.error("shutting_down", "the daemon is shutting down; retry after it restarts")
                }
            } catch {
                return CommandReply.error("storage_failed", "the events could not be made durable: \(error)")
            }
        }
        await runtime.publishRejections(rejected, source: "submit")
        return ok { w in
            w.member("accepted", accepted.count)
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
        guard let user = request["user"]?.stringValue, !user.isEmpty else {
            return CommandReply.error("missing_field", "field 'user' (string) is required")
        }
        var bounds: [Int64] = [Int64.min / 4, Int64.max / 4]
        for (i, key) in ["from", "to"].enumerated() {
            guard let value = request[key] else { continue }
            guard let ms = value.int64Value else {
                return CommandReply.error("wrong_type", "field '\(key)' must be integer epoch milliseconds")
            }
            bounds[i] = ms
        }
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
