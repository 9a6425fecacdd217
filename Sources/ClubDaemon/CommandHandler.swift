import ClubProtocol
import ClubRuntime
import CommandSocket
import Definitions
import Events
import JSON
import Offers
import Pipeline
import PostgresStorage
import Storage
import Telemetry
import Users

/// Serves the command socket's operations (``Op``): a router to the handlers of each
/// subsystem — here `health`, `submit`, `stats`, `reload` and `snapshot`; the Bonus, Training,
/// Imports and Offers ops in `CommandHandler+<Subsystem>.swift`. Replies are the typed replies
/// of `ClubProtocol` where one is defined; every failure is `{"ok":false,"error":{"code","message"}}`
/// with a stable code.
struct CommandHandler: CommandHandling {
    let runtime: PipelineRuntime
    let store: any ClubStorage
    let startedAt: Int64
    /// Largest request of any op but `import` (`ingest.max_frame_bytes`).
    let maxRequestBytes: Int
    /// Largest workout file `import` takes (`imports.max_file_bytes`).
    let maxImportFileBytes: Int
    /// The users' devices as the log has them (the devices' admission gate).
    let devices: DevicesGate
    /// PostgreSQL: the work lease this instance holds (its name and token in `health`).
    let lease: LeaseKeeper?
    let reloadPipelines: @Sendable () async -> [UInt8]

    /// Largest `import` request: the file in base64 and room for the other fields.
    var maxImportRequestBytes: Int { Self.maxImportRequestBytes(maxImportFileBytes) }

    static func maxImportRequestBytes(_ maxImportFileBytes: Int) -> Int { (maxImportFileBytes + 2) / 3 * 4 + 64 << 10 }

    static let version = "0.1.0"

    /// `leaderboard` queries read published standings: they are answered on the command
    /// thread itself, without a hop to another thread that a busy pipeline could delay.
    /// Only requests that name the op are parsed here: every other request is parsed once,
    /// by ``handle(request:)``.
    func handleAtOnce(request: [UInt8], sender: Principal?) -> [UInt8]? {
        guard request.count < 4096, request.firstRange(of: Self.leaderboardOp) != nil,
            let parsed = try? CommandRequest.parse(request, maxDepth: 64), parsed.fields["op"] == "leaderboard"
        else { return nil }
        if let refusal = Self.authorize(.leaderboard, sender) { return refusal.reply }
        do { return leaderboard(try LeaderboardRequest(request: parsed.fields)) } catch { return error.reply }
    }

    private static let leaderboardOp = Array(#""leaderboard""#.utf8)
    private static let importOp = Array(#""import""#.utf8)

    /// Whether a request may be an `import` (its first 4 KiB name the op): the cheap test
    /// before a large request is parsed; the parsed op decides.
    static func mayBeImport(_ request: [UInt8]) -> Bool {
        request.prefix(4096).firstRange(of: importOp) != nil || request.suffix(4096).firstRange(of: importOp) != nil
    }

    /// The `forbidden` error when `sender` (curve mode) may not use `op`; nil when it may.
    static func authorize(_ op: Op, _ sender: Principal?) -> CommandError? {
        guard let sender, !sender.mayUse(op: op.rawValue) else { return nil }
        let allowed = sender.kind == .service ? "health, submit and its security.services ops" : "health and submit"
        return CommandError("forbidden", "\(sender) may not use '\(op.rawValue)' (a \(sender.kind.rawValue) may use \(allowed))")
    }

    func handle(request: [UInt8], sender: Principal?) async -> [UInt8] {
        // Only `import` carries a file; every other request keeps the frame limit, checked
        // before parsing so that a large request of another op costs nothing.
        if request.count > maxRequestBytes && (request.count > maxImportRequestBytes || !Self.mayBeImport(request)) {
            return CommandError(
                "frame_too_large",
                "request of \(request.count) bytes exceeds the limit of \(maxRequestBytes) (import takes files up to \(maxImportFileBytes) bytes, imports.max_file_bytes)").reply
        }
        let parsed: CommandRequest?
        do {
            parsed = try CommandRequest.parse(request, maxDepth: 64)
        } catch {
            return CommandError("malformed_json", "the request is not JSON: \(error)").reply
        }
        guard let parsed else {
            return CommandError("bad_request", "a request is a JSON object with an 'op' field").reply
        }
        let object = parsed.fields
        guard let opValue = object["op"] else { return CommandError("missing_field", "missing required field 'op'").reply }
        guard let op = opValue.stringValue else {
            return CommandError("wrong_type", "field 'op' must be a string, not \(opValue.typeName)").reply
        }
        guard let known = Op(rawValue: op) else { return Op.unknown(op).reply }
        if request.count > maxRequestBytes && known != .import {
            return CommandError("frame_too_large", "request of \(request.count) bytes exceeds the limit of \(maxRequestBytes)").reply
        }
        if let refusal = Self.authorize(known, sender) { return refusal.reply }
        // The router: each subsystem's ops are answered by its own file of handlers.
        switch known {
        case .health: return await health()
        case .submit: return await submit(parsed.events, sender: sender)
        case .stats: return await answer(StatsRequest.self, object, stats)  // Telemetry
        case .reload: return await reloadPipelines()
        case .snapshot: return await snapshot()
        case .balance: return await answer(BalanceRequest.self, object, balance)  // Bonus: CommandHandler+Bonus.swift
        case .ledger: return await answer(LedgerRequest.self, object, ledger)
        case .ledgerChanges: return await answer(LedgerChangesRequest.self, object, ledgerChanges)
        case .leaderboard: return await answer(LeaderboardRequest.self, object, leaderboard)  // Training: CommandHandler+Training.swift
        case .workouts: return await answer(WorkoutsRequest.self, object, workouts)
        case .import: return await answer(ImportRequest.self, object, importFile)  // Imports: CommandHandler+Imports.swift
        case .forgetImports: return await answer(ForgetImportsRequest.self, object, forgetImports)
        case .offers: return await answer(OffersRequest.self, object, offers)  // Offers: CommandHandler+Offers.swift
        case .offersPreview: return await answer(OffersPreviewRequest.self, object, previewOffers)
        case .offersChanges: return await answer(OfferChangesRequest.self, object, offerChanges)
        case .exercises: return await answer(ExercisesRequest.self, object, exercises)  // Training catalogue: CommandHandler+Training.swift
        case .programmes: return await answer(ProgrammesRequest.self, object, programmes)
        case .programme: return await answer(ProgrammeRequest.self, object, programme)
        case .progress: return await answer(ProgressRequest.self, object, progress)
        case .groups: return await answer(GroupsRequest.self, object, groups)  // Community: CommandHandler+Community.swift
        case .group: return await answer(GroupRequest.self, object, group)
        case .recommendations: return await answer(RecommendationsRequest.self, object, recommendations)
        case .sessions: return await answer(SessionsRequest.self, object, sessions)
        case .session: return await answer(SessionRequest.self, object, session)
        case .discussion: return await answer(DiscussionRequest.self, object, discussion)
        case .competition: return await answer(CompetitionRequest.self, object, competition)
        case .devices: return await answer(DevicesRequest.self, object, devicesOf)  // Users: CommandHandler+Users.swift
        case .gear: return await answer(GearRequest.self, object, gearOf)
        case .history: return await answer(HistoryRequest.self, object, historyOf)
        }
    }

    /// Reads the typed request (the contract's validation, in `ClubProtocol`) and hands it to
    /// its handler, or answers the refusal.
    private func answer<R: Request>(_ type: R.Type, _ object: JSONObject, _ handle: (R) async -> [UInt8]) async -> [UInt8] {
        let request: R
        do { request = try R(request: object) } catch { return error.reply }
        return await handle(request)
    }

    private func health() async -> [UInt8] {
        let status = await runtime.status()
        let bonus = await runtime.bonusProgress()
        let stages = await runtime.stageStatuses()
        var reply = HealthReply(
            version: Self.version, uptimeSeconds: Double(Clock.nowMillis() - startedAt) / 1000, pipelines: status.pipelines,
            users: status.users, openWindows: status.openWindows, inboxDepth: status.inboxDepth, samplesProcessed: status.processed,
            journalPosition: Int(status.journalPosition), lastSnapshotAt: Int(status.lastSnapshotAt), bonusOffset: Int(bonus.offset),
            bonusProcessed: bonus.processed, offersOffset: Int(await runtime.offersProgress()),
            trainingOffset: Int(await runtime.trainingProgress()),
            stages: stages.map {
                HealthReply.Stage(
                    name: $0.name, offset: Int($0.status.offset), lag: Int($0.status.lag), state: $0.status.state.rawValue,
                    lastError: $0.status.lastError, failures: $0.status.failures)
            }
        )
        reply.storage = HealthReply.Storage(
            engine: store.engineName, location: store.location, instance: lease?.instance, leaseToken: lease?.token.map { Int($0) })
        reply.storage?.instances = (lease?.instances ?? []).map {
            HealthReply.Storage.Instance(instance: $0.instance, role: $0.role, seenMillisAgo: Int($0.seenMillisAgo))
        }
        return reply.bytes
    }

    /// The reliable path: replies only after the accepted events are durable (fsynced).
    /// Events are decoded as one batch by the ingest decoder, straight from the request bytes.
    private func submit(_ eventsJSON: [UInt8]?, sender: Principal?) async -> [UInt8] {
        guard let eventsJSON else { return CommandError("missing_field", "missing required field 'events'").reply }
        guard eventsJSON.first == UInt8(ascii: "[") else {
            return CommandError("wrong_type", "field 'events' must be an array of events").reply
        }
        let now = Clock.nowMillis()
        let decoded = runtime.decode(eventsJSON, now: now, sender: sender)
        if let whole = decoded.rejections.first, whole.index == nil {
            return CommandError(whole.reason.code, whole.message).reply
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
                return CommandError.shuttingDown.reply
            } catch {
                return CommandError.storageFailed("the events could not be made durable", error).reply
            }
        }
        rejected.sort { ($0.index ?? 0) < ($1.index ?? 0) }
        await runtime.publishRejections(rejected, source: "submit")
        return SubmitReply(
            accepted: acceptedCount, duplicates: duplicates,
            rejected: rejected.map { .init(index: $0.index ?? 0, code: $0.reason.code, message: $0.message) }
        ).bytes
    }

    private func stats(_ request: StatsRequest) async -> [UInt8] {
        let user = request.range.user
        let bounds = request.range.bounds
        let closed: [WindowRecord]
        do {
            closed = try await store.windows(user: user, from: bounds.from, to: bounds.to)
        } catch {
            return CommandError("storage_failed", "cannot read window history: \(error)").reply
        }
        let open = await runtime.currentWindows(of: user)
        let closedKeys = Set(closed.map { "\($0.pipeline)@\($0.start)" })
        // A closed window still correctable is both recorded and held: list it once.
        let held = open.filter { !closedKeys.contains("\($0.pipeline)@\($0.start)") }
        return StatsReply(user: user, windows: (closed + held).map { RawObject(members: $0.result) }).bytes
    }

    private func snapshot() async -> [UInt8] {
        do {
            let taken = try await runtime.snapshot()
            return SnapshotReply(takenAt: Int(taken.takenAt), byteCount: taken.byteCount, journalPosition: Int(taken.journalPosition)).bytes
        } catch {
            return CommandError("snapshot_failed", "\(error)").reply
        }
    }
}
