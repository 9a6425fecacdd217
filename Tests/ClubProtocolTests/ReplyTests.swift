import ClubProtocol
import JSON
import Testing

/// The typed replies write what the contract names and read back what they wrote; a reply
/// missing a field is refused naming it.
@Suite struct ReplyTests {
    static func parsed(_ bytes: [UInt8]) throws -> JSONValue { try JSONValue.parse(bytes) }

    @Test func healthWritesTheContractsFieldsAndEveryStage() throws {
        let health = HealthReply(
            version: "0.1.0", uptimeSeconds: 12.5, pipelines: ["minute"], users: 3, openWindows: 4, inboxDepth: 0,
            samplesProcessed: 1000, journalPosition: 7, lastSnapshotAt: 1_764_000_000_000, bonusOffset: 40, bonusProcessed: 40,
            offersOffset: 38, trainingOffset: 40,
            stages: [
                .init(name: "telemetry", offset: 7, lag: 0, state: "running", lastError: nil, failures: 0),
                .init(name: "bonus", offset: 40, lag: 12, state: "retrying", lastError: "disk full", failures: 3),
            ])
        let json = try Self.parsed(health.bytes)
        #expect(json["ok"] == .bool(true) && json["status"] == "ok" && json["version"] == "0.1.0" && json["uptime_s"] == 12.5)
        #expect(json["stages"]?["bonus"]?["state"] == "retrying" && json["stages"]?["bonus"]?["last_error"] == "disk full")
        #expect(json["stages"]?["telemetry"]?["last_error"] == .null)
        // Stages keep their order.
        #expect(json["stages"]?.objectValue?.keys == ["telemetry", "bonus"])
        #expect(try HealthReply(reply: json) == health)
    }

    @Test func healthOfASharedDatabaseNamesItsInstancesAndRoundTrips() throws {
        var health = HealthReply(
            version: "0.1.0", uptimeSeconds: 1, pipelines: [], users: 0, openWindows: 0, inboxDepth: 0, samplesProcessed: 0,
            journalPosition: 0, lastSnapshotAt: 0, bonusOffset: 0, bonusProcessed: 0, offersOffset: 0, trainingOffset: 0, stages: [])
        health.storage = HealthReply.Storage(engine: "postgres", location: "postgresql://club@db/club", instance: "a", leaseToken: 4)
        health.storage?.instances = [.init(instance: "a", role: "holder", seenMillisAgo: 120), .init(instance: "b", role: "standby", seenMillisAgo: 700)]
        let json = try Self.parsed(health.bytes)
        #expect(json["storage"]?["lease_token"] == 4 && json["storage"]?["instances"]?.arrayValue?.last?["role"] == "standby")
        #expect(try HealthReply(reply: json) == health)
    }

    @Test func bonusSubmitAndSnapshotRepliesRoundTrip() throws {
        let ledger = LedgerReply(
            user: "u-1",
            entries: [
                .init(event: "w1", points: 10, rule: "workout", at: 1_764_000_000_000, kind: "award", balance: 10),
                .init(event: "p1", points: -4, rule: "spend", at: 1_764_000_100_000, kind: "spend", balance: 6),
            ])
        #expect(try LedgerReply(reply: Self.parsed(ledger.bytes)) == ledger)
        let balance = BalanceReply(user: "u-1", points: 6)
        #expect(try BalanceReply(reply: Self.parsed(balance.bytes)) == balance)
        let submit = SubmitReply(accepted: 2, duplicates: 1, rejected: [.init(index: 3, code: "unsupported_type", message: "no")])
        #expect(try SubmitReply(reply: Self.parsed(submit.bytes)) == submit)
        let snapshot = SnapshotReply(takenAt: 5, byteCount: 539, journalPosition: 2)
        let json = try Self.parsed(snapshot.bytes)
        #expect(json["bytes"] == 539)
        #expect(try SnapshotReply(reply: json) == snapshot)
    }

    @Test func errorsAreTheContractsShapeAndRepliesMissingAFieldAreRefused() throws {
        let error = CommandError("storage_failed", "the events could not be made durable: disk full")
        let json = try Self.parsed(error.reply)
        #expect(json["ok"] == .bool(false) && json["error"]?["code"] == "storage_failed")
        #expect(CommandError(reply: json) == error)
        #expect(CommandError(reply: try Self.parsed(BalanceReply(user: "u", points: 1).bytes)) == nil)
        #expect(throws: CommandError("bad_reply", "the reply's field 'points' is not an integer")) {
            try BalanceReply(reply: try Self.parsed(Array(#"{"ok":true,"user":"u","points":"many"}"#.utf8)))
        }
        #expect(Op.unknown("fly").code == "unknown_op")
        #expect(Op.unknown("fly").message.contains("offers.preview"))
        #expect(Op(rawValue: "forget_imports") == .forgetImports)
    }

    @Test func workoutImportForgetAndReloadRepliesRoundTrip() throws {
        let workout = WorkoutSummary(
            id: "garmin:1", source: "garmin", sport: "run", start: 1_764_000_000_000, durationSeconds: 1830, movingSeconds: 1800,
            distanceMeters: 5012.25, averageHeartRate: 151, maxHeartRate: nil, elevationGainMeters: 42, samples: 1830, counted: true)
        let workouts = WorkoutsReply(user: "u-17", workouts: [workout])
        let json = try Self.parsed(workouts.bytes)
        #expect(json["workouts"]?.arrayValue?.first?["max_hr"] == .null && json["workouts"]?.arrayValue?.first?["duplicate"] == nil)
        #expect(try WorkoutsReply(reply: json) == workouts)
        var copy = workout
        copy.duplicate = true
        copy.counted = nil
        let imported = ImportReply(user: "u-17", samples: 1830, workouts: [copy])
        #expect(try ImportReply(reply: Self.parsed(imported.bytes)) == imported)
        let forgot = ForgetImportsReply(user: "u-17", system: "garmin", deleted: 3)
        #expect(try ForgetImportsReply(reply: Self.parsed(forgot.bytes)) == forgot)
        let reload = ReloadReply(reloaded: ["changed minute", "bonus rules: 9"])
        #expect(try ReloadReply(reply: Self.parsed(reload.bytes)) == reload)
    }
}

/// Requests write what the daemon reads back, and the daemon's reading refuses a wrong field
/// with the contract's codes.
@Suite struct RequestTests {
    static func object(_ bytes: [UInt8]) throws -> JSONObject { try #require(try JSONValue.parse(bytes).objectValue) }

    /// `window.<user>` as the contract's example has it: written to the thousandth, means without
    /// a measurement null, `open` only when set; read back equal.
    @Test func windowPayloadsWriteTheContractsFieldsAndReadBack() throws {
        let payload = WindowPayload(
            pipeline: "minute", window: "tumbling", user: "u-17", start: 1_764_237_600_000, end: 1_764_237_660_000, update: false,
            sport: "run", samples: 58, distance: 182.4000004, movingTime: 57, averageHeartRate: 141.23456, maxHeartRate: 150,
            averageSpeed: 3.1, elevationGain: 2.5, averageCadence: 84, averagePower: nil, firstTs: 1_764_237_600_000,
            lastTs: 1_764_237_659_000)
        let json = try JSONValue.parse(Array("{\(String(decoding: payload.members, as: UTF8.self))}".utf8))
        #expect(json["distance_m"] == 182.4 && json["avg_hr"] == 141.235 && json["avg_power_w"] == .null && json["open"] == nil)
        #expect(json["update"] == false && json["sport"] == "run" && json["max_hr"] == 150)
        var rounded = payload
        rounded.distance = 182.4
        rounded.averageHeartRate = 141.235
        #expect(try WindowPayload(payload: json) == rounded)
        var open = payload
        open.open = true
        open.sport = nil
        let openJSON = try JSONValue.parse(Array("{\(String(decoding: open.members, as: UTF8.self))}".utf8))
        #expect(openJSON["open"] == true && openJSON["sport"] == .null)
        #expect(throws: CommandError.self) { try WindowPayload(payload: .object(JSONObject([("pipeline", "minute")]))) }
    }

    /// `offer.*`: discounts, categories and SKUs only where the rule gives them, `user` or
    /// `region` by audience; read back equal.
    @Test func offerPayloadsWriteTheContractsFieldsAndReadBack() throws {
        let targeted = OfferPayload(
            code: "RUN-0123456789AB", rule: "long-run", title: "Long run", text: "10% off gels", discountPercent: 10, discountAmount: nil,
            categories: ["nutrition"], skus: [], audience: "user", user: "u-1", region: nil, trigger: "w1", issuedAt: 1_764_237_600_000,
            validUntil: 1_764_842_400_000)
        let json = try JSONValue.parse(Array("{\(String(decoding: targeted.members, as: UTF8.self))}".utf8))
        #expect(json["discount_percent"] == 10 && json["categories"] == ["nutrition"] && json["user"] == "u-1")
        #expect(json["discount_amount"] == nil && json["skus"] == nil && json["region"] == nil)
        #expect(try OfferPayload(payload: json) == targeted)
        var regional = targeted
        (regional.audience, regional.user, regional.region, regional.discountPercent, regional.discountAmount) = ("region", nil, "RU-SPE", nil, 300)
        let back = try OfferPayload(payload: try JSONValue.parse(Array("{\(String(decoding: regional.members, as: UTF8.self))}".utf8)))
        #expect(back == regional && back.region == "RU-SPE")
        #expect(throws: CommandError.self) { try OfferPayload(payload: .object(JSONObject([("code", "X")]))) }
    }

    @Test func requestsRoundTripThroughTheirJSON() throws {
        let ledger = LedgerRequest(user: "u-1", limit: 20)
        let parsed = try Self.object(ledger.bytes)
        #expect(parsed["op"] == "ledger")
        #expect(try LedgerRequest(request: parsed) == ledger)
        let board = LeaderboardRequest(board: "weekly-distance", period: "2026-W48", user: "u-2")
        #expect(try LeaderboardRequest(request: Self.object(board.bytes)) == board)
        let stats = StatsRequest(user: "u-3", from: 10)
        #expect(try StatsRequest(request: Self.object(stats.bytes)) == stats)
        #expect(stats.range.bounds.from == 10 && stats.range.bounds.to > 1 << 60)
        let file = ImportRequest(user: "u-4", system: "garmin", format: "gpx", dataBase64: "PGdweC8+", sport: "ride")
        #expect(try ImportRequest(request: Self.object(file.bytes)) == file)
        #expect(try ForgetImportsRequest(request: Self.object(ForgetImportsRequest(user: "u", system: "strava").bytes)).system == "strava")
        #expect(try Self.object(HealthRequest().bytes).keys == ["op"])
    }

    @Test func wrongFieldsAreRefusedNamingTheField() throws {
        #expect(throws: CommandError.missingField("user")) { try BalanceRequest(request: Self.object(Array(#"{"op":"balance"}"#.utf8))) }
        #expect(throws: CommandError.wrongType("field 'user' must be a non-empty string, not number")) {
            try BalanceRequest(request: Self.object(Array(#"{"op":"balance","user":7}"#.utf8)))
        }
        #expect(throws: CommandError.wrongType("field 'limit' must be an integer in 1...100000")) {
            try LedgerRequest(request: Self.object(Array(#"{"op":"ledger","user":"u","limit":0}"#.utf8)))
        }
        #expect(throws: CommandError.wrongType("field 'from' must be integer epoch milliseconds or an RFC 3339 time such as 2026-11-27T10:00:00Z")) {
            try WorkoutsRequest(request: Self.object(Array(#"{"op":"workouts","user":"u","from":"yesterday"}"#.utf8)))
        }
        #expect(try WorkoutsRequest(request: Self.object(Array(#"{"op":"workouts","user":"u","from":"2026-11-27T10:00:00Z"}"#.utf8))).range.from == 1_795_773_600_000)
        let history = try HistoryRequest(request: Self.object(Array(#"{"op":"history","user":"u","to":"2026-11-27T13:00:00.250+03:00"}"#.utf8)))
        #expect(history.range.to == 1_795_773_600_250 && history.resolution == "minute" && history.limit == 10_000)
        #expect(throws: CommandError.self) { try ImportRequest(request: Self.object(Array(#"{"op":"import","user":"u","system":"garmin"}"#.utf8))) }
    }
}

/// The query replies: typed boards, and payloads other parts of the contract define carried
/// as they were written.
@Suite struct QueryReplyTests {
    static func parsed(_ bytes: [UInt8]) throws -> JSONValue { try JSONValue.parse(bytes) }

    @Test func leaderboardsRoundTripWithAndWithoutTheUsersLine() throws {
        var board = LeaderboardReply(
            board: "weekly-distance", metric: "distance", period: "2026-W48", scope: "all", ranked: 2,
            entries: [.init(rank: 1, user: "u-1", value: 42.195), .init(rank: 2, user: "u-2", value: 10)])
        var json = try Self.parsed(board.bytes)
        #expect(json["user"] == nil && json["entries"]?.arrayValue?.count == 2)
        #expect(try LeaderboardReply(reply: json) == board)
        board.own = .unranked
        json = try Self.parsed(board.bytes)
        #expect(json["user"] == .null)
        #expect(try LeaderboardReply(reply: json) == board)
        board.own = .ranked(.init(rank: 2, user: "u-2", value: 10))
        #expect(try LeaderboardReply(reply: Self.parsed(board.bytes)) == board)
    }

    @Test func payloadsOfOtherPartsAreCarriedAsWritten() throws {
        let window = RawObject(members: Array(#""topic":"window.u-1","samples":60"#.utf8))
        let stats = StatsReply(user: "u-1", windows: [window])
        let json = try Self.parsed(stats.bytes)
        #expect(json["windows"]?.arrayValue?.first?["samples"] == 60)
        #expect(try StatsReply(reply: json) == stats)
        #expect(window.value["topic"] == "window.u-1")
        let offers = OffersReply(user: "u-1", offers: [RawObject(members: Array(#""rule":"gels-10k""#.utf8))])
        #expect(try OffersReply(reply: Self.parsed(offers.bytes)) == offers)
        let preview = OffersPreviewReply(since: 5, preview: RawObject(members: Array(#""offers":3,"users":2"#.utf8)))
        #expect(try OffersPreviewReply(reply: Self.parsed(preview.bytes)) == preview)
    }

    @Test func submitAndPreviewRequestsRoundTrip() throws {
        let submit = SubmitRequest(events: [["type": "club.visited", "id": "v1", "user": "u-1"]])
        let object = try #require(try Self.parsed(submit.bytes).objectValue)
        #expect(object["events"]?.arrayValue?.count == 1)
        #expect(try SubmitRequest(request: object) == submit)
        #expect(throws: CommandError.wrongType("field 'events' must be an array of events")) {
            try SubmitRequest(request: JSONObject([("events", .string("v1"))]))
        }
        for since in [OffersPreviewRequest.Since.ago("30d"), .millis(1_764_000_000_000)] {
            let preview = OffersPreviewRequest(rules: "rules: []", since: since, file: "a.yaml")
            #expect(try OffersPreviewRequest(request: #require(try Self.parsed(preview.bytes).objectValue)) == preview)
        }
    }
}

/// Topic payloads read back what the stages write.
@Suite struct TopicPayloadTests {
    static func parsed(_ members: [UInt8]) throws -> JSONValue { try JSONValue.parse([UInt8(ascii: "{")] + members + [UInt8(ascii: "}")]) }

    @Test func rejectedBonusAndActivityPayloadsRoundTrip() throws {
        let ingest = RejectedPayload(code: "missing_field", message: "missing required field 'user'", source: "ingest", index: 3, excerpt: "{\"type\"")
        #expect(try RejectedPayload(payload: Self.parsed(ingest.members)) == ingest)
        let bonus = RejectedPayload(code: "insufficient_balance", message: "not enough", source: "bonus", event: "order-1")
        let json = try Self.parsed(bonus.members)
        #expect(json["index"] == nil && json["excerpt"] == nil && json["event"] == "order-1")
        #expect(try RejectedPayload(payload: json) == bonus)
        let entry = BonusPayload(user: "u-1", event: "w-1", kind: .entry(rule: "workout", kind: "award", points: 10, entryAt: 5), balance: 10)
        #expect(try BonusPayload(payload: Self.parsed(entry.members)) == entry)
        let refused = BonusPayload(user: "u-1", event: "o-1", kind: .refused(code: "insufficient_balance", message: "no"), balance: 10)
        #expect(try Self.parsed(refused.members)["refused"]?["code"] == "insufficient_balance")
        #expect(try BonusPayload(payload: Self.parsed(refused.members)) == refused)
        let late = LatePayload(message: "closed", pipeline: "minute", user: "u-1", device: "w-1", session: "s-1", ts: 5, horizon: 9)
        #expect(try Self.parsed(late.members)["code"] == "late")
        #expect(try LatePayload(payload: Self.parsed(late.members)) == late)
        let comparison = ComparisonPayload(
            user: "u-1", workout: "w-1", sport: "run", band: "5k", scope: "all", start: 5, distanceMeters: 5012, resultSeconds: 1500.0004,
            rank: 2, cohortSize: 10, percentile: 88.9, cohortMedianSeconds: 1700, cohortBestSeconds: nil, exact: true, personalBestSeconds: 1510)
        let compared = try Self.parsed(comparison.members)
        #expect(compared["result_s"] == 1500 && compared["difference_s"] == -10 && compared["cohort_best_s"] == .null)
        var rounded = comparison
        rounded.resultSeconds = 1500
        #expect(try ComparisonPayload(payload: compared) == rounded)
        let board = LeaderboardReply(
            board: "b", metric: "distance", period: "2026-W48", scope: "all", ranked: 1, entries: [.init(rank: 1, user: "u-1", value: 5)])
        let published = LeaderboardPayload(board: board, final: true, moved: [.init(user: "u-1", rank: 1, previousRank: nil)])
        let boardJSON = try Self.parsed(published.members)
        #expect(boardJSON["final"] == .bool(true) && boardJSON["moved"]?.arrayValue?.first?["previous_rank"] == .null && boardJSON["user"] == nil)
        #expect(try LeaderboardPayload(payload: boardJSON) == published)
        let activity = ActivityPayload(offset: 7, event: Array(#"{"type":"club.visited","id":"v1","user":"u-1"}"#.utf8))
        #expect(try ActivityPayload(payload: Self.parsed(activity.members)) == activity)
    }
}
