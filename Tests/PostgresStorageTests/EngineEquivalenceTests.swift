import Bonus
import ClubKernel
import ClubRuntime
import ClubTestKit
import Events
import Foundation
import Logging
import Offers
import Pipeline
import PostgresStorage
import Storage
import Telemetry
import Testing
@testable import Users

/// The PostgreSQL engine against an independent oracle: the SQLite engine, driven through the
/// same store protocols with the same calls, must read back the same. Then a second
/// `PostgresStore` on the same database (a restart, or another instance) reads it all back.
@Suite(.enabled(if: PostgresServer.shared != nil, "\(PostgresServer.unavailableReason)"))
struct EngineEquivalenceTests {
    let sqlite: ClubStore
    let postgres: PostgresStore
    let url: PostgresURL
    let directory: URL

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-engines-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        sqlite = try ClubStore(path: directory.appendingPathComponent("clubd.sqlite").path)
        url = try PostgresURL(try PostgresServer.shared!.createDatabase())
        postgres = try await PostgresStore(url: url, logger: Logger(label: "test"))
    }

    func reopen() async throws -> PostgresStore {
        try await PostgresStore(url: url, logger: Logger(label: "test"))
    }

    static func event(_ id: String, _ type: String = "group.joined", user: String = "u1", at: Int64 = 1, consent: ConsentEffect? = nil)
        -> ActivityEvent
    {
        ActivityEvent(id: id, type: type, user: user, at: at, json: Array(#"{"type":"\#(type)","id":"\#(id)","source":"Strava"}"#.utf8), consent: consent)
    }

    /// Both engines' whole log, as (id, type, user, at, body): offsets may differ (SQLite's
    /// can skip a number where a duplicate was ignored; PostgreSQL's are gapless).
    static func log(_ store: some ActivityLogReading) async throws -> [String] {
        try await store.activity(after: 0, limit: 100_000).map { "\($0.id) \($0.type) \($0.user) \($0.at) \(String(decoding: $0.json, as: UTF8.self))" }
    }

    @Test func theLogDecidesAndReadsBackAsOnSQLite() async throws {
        let strava = "strava"
        let batches: [[ActivityEvent]] = [
            [Self.event("a"), Self.event("b"), Self.event("a")],  // a duplicate within the batch
            [Self.event("w1", "workout", consent: .needs(system: strava))],  // no connection yet: refused
            [Self.event("c1", "connection", consent: .connection(system: "Strava", active: true)), Self.event("w1", "workout", consent: .needs(system: strava))],
            [Self.event("b"), Self.event("w2", "workout", user: "u2", consent: .needs(system: strava))],  // duplicate; u2 has none
            [Self.event("w3", "workout", consent: .needs(system: strava)), Self.event("c2", "connection", consent: .connection(system: strava, active: false)),
             Self.event("w4", "workout", consent: .needs(system: strava))],
        ]
        for (n, batch) in batches.enumerated() {
            let expected = try await sqlite.appendActivity(batch, receivedAt: 10)
            #expect(try await postgres.appendActivity(batch, receivedAt: 10) == expected, "batch \(n)")
            #expect(expected.map { $0 == .new } == [[true, true, false], [false], [true, true], [false, false], [true, true, false]][n])
        }
        #expect(try await Self.log(postgres).count == 6)
        // A submission: telemetry into the journal with its other events, in one transaction.
        let submitted = try await postgres.appendSubmission(journal: Array("t1".utf8), events: [Self.event("s1", "profile")], receivedAt: 11)
        let oracle = try await sqlite.appendSubmission(journal: Array("t1".utf8), events: [Self.event("s1", "profile")], receivedAt: 11)
        #expect(submitted.appended == oracle.appended)
        #expect(try await postgres.journal(after: 0).map(\.payload) == [Array("t1".utf8)])
        // A consumer commits its state and raises events in one transaction.
        let raised = [Self.event("r1", "training.step_completed"), Self.event("a")]  // "a" again: a duplicate, not appended twice
        try await postgres.commitConsumer("training", offset: 5, state: [1, 2, 3], raising: raised)
        try await sqlite.commitConsumer("training", offset: 5, state: [1, 2, 3], raising: raised)
        #expect(try await postgres.consumerState("training")?.offset == 5)
        #expect(try await postgres.consumerState("training")?.state == [1, 2, 3])
        #expect(try await postgres.consumerState("nobody") == nil)
        try await postgres.commitOffset("feed", 4)
        #expect(try await postgres.consumerOffset("feed") == 4)
        #expect(try await postgres.consumerOffset("other") == 0)
        // Forgetting a user's imports deletes their workouts from that system and appends the notice.
        let notice = Self.event("n1", "imports.deleted")
        let forgotten = try await postgres.forgetImports(user: "u1", system: "STRAVA", notice: notice, receivedAt: 12)
        #expect(forgotten == (try await sqlite.forgetImports(user: "u1", system: "STRAVA", notice: notice, receivedAt: 12)))
        #expect(forgotten == 2)  // w1 and w3

        // Served from the tails: the forgotten workouts were read there before (the notice
        // tells the consumers that took them to forget them).
        #expect(try await Self.log(postgres) == (try await Self.log(sqlite)))
        let filtered = try await postgres.activity(after: 0, limit: 100, types: ["workout", "profile"])
        #expect(filtered.records.map(\.id) == ["w1", "w3", "s1"])
        // Read from the files and the server: gone.
        let expectedLog = try await Self.log(try ClubStore(path: directory.appendingPathComponent("clubd.sqlite").path))
        #expect(!expectedLog.contains { $0.hasPrefix("w1 ") || $0.hasPrefix("w3 ") })
        // Offsets are gapless and in order; the newest is the tail's.
        let offsets = try await postgres.activity(after: 0, limit: 100).map(\.offset)
        #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count)
        #expect(postgres.newestActivityOffset == offsets.last)

        // Writes are fenced by the work lease: while another instance holds it, a store opened
        // under a keeper that does not (or no longer does) hold it writes nothing.
        let endpoints = LeaseEndpoints(ingest: "ipc://i", command: "ipc://c", publish: "ipc://p")
        let holder = try await LeaseKeeper(url: url, instance: "holder", duration: .seconds(30), endpoints: endpoints, logger: Logger(label: "test"))
        let other = try await LeaseKeeper(url: url, instance: "other", duration: .seconds(30), endpoints: endpoints, logger: Logger(label: "test"))
        #expect(try await holder.tryTake())
        #expect(try await !other.tryTake())
        #expect(try await other.holder()?.instance == "holder")
        let fenced = try await PostgresStore(url: url, logger: Logger(label: "test"), lease: other)
        await #expect(throws: PostgresStoreError.self) { try await fenced.appendActivity([Self.event("f", "profile")], receivedAt: 12) }
        await #expect(throws: PostgresStoreError.self) { try await fenced.commitOffset("feed", 1) }
        await #expect(throws: PostgresStoreError.self) { try await fenced.commitBonus(position: 1, entries: [], accounts: [:], lotChanges: []) }
        await #expect(throws: PostgresStoreError.self) { try await fenced.commitOffers(position: 1, offers: [], facts: [:], occurrences: [:]) }
        await fenced.close()
        await holder.release()
        #expect(try await other.tryTake())
        #expect(try await other.token == 2, "a take-over raises the fencing token")
        await other.release()
        holder.close()
        other.close()
        // The next one (a restart, or another instance taking over) reads the same from the
        // server, and has the connections: u1's is revoked, so a workout from Strava is still refused.
        await postgres.close()
        let second = try await reopen()
        #expect(try await Self.log(second) == expectedLog)
        #expect(second.newestActivityOffset == postgres.newestActivityOffset)
        let after = [Self.event("w5", "workout", consent: .needs(system: strava)), Self.event("z", "profile")]
        let outcomes = try await second.appendActivity(after, receivedAt: 13)
        #expect(outcomes == (try await sqlite.appendActivity(after, receivedAt: 13)))
        #expect(outcomes.first != .new && outcomes.last == .new)
        #expect(try await second.activity(after: 0, limit: 100).last?.offset == postgres.newestActivityOffset + 1)
        // Pruning: nothing before every consumer has passed it (the ledger has passed nothing).
        #expect(try await second.pruneActivity(receivedBefore: 100, consumers: ["training"]) == 0)
        // Then only what the slowest named consumer ("feed", at 4) has passed, and the rest once it has.
        let newest = second.newestActivityOffset
        try await second.commitBonus(position: newest, entries: [], accounts: [:], lotChanges: [])
        try await second.commitOffers(position: newest, offers: [], facts: [:], occurrences: [:])
        try await second.commitConsumer("training", offset: newest, state: [1], raising: [])
        let stored = try await second.activity(after: 0, limit: 100).map(\.offset)
        // (Received before the end of time: the raised event was received at the clock's now.)
        let pruned = try await second.pruneActivity(receivedBefore: .max, consumers: ["training", "feed"])
        #expect(pruned > 0 && pruned == stored.filter { $0 <= 4 }.count)
        try await second.commitOffset("feed", newest)
        #expect(try await second.pruneActivity(receivedBefore: .max, consumers: ["training", "feed"]) == stored.count - pruned)
        #expect(try await second.activity(after: 0, limit: 100).isEmpty)
        await second.close()
    }

    @Test func snapshotsSaveAndLoadAsOnSQLite() async throws {
        for store in [sqlite as any ClubStorage, postgres] {
            _ = try await store.appendSubmission(journal: [1], events: [], receivedAt: 1)
            _ = try await store.appendSubmission(journal: [2], events: [], receivedAt: 2)
        }
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // three slices and more
        let snapshots = [
            StateSnapshot(
                parts: ["a": [1, 2, 3], "big": big, "empty": []],
                entries: ["users": EntryChanges(replacesAll: true, changes: [("u1", [1]), ("u2", [2]), ("u3", [3])]),
                          "records": EntryChanges(replacesAll: true, changes: [("s1", [9])])],
                journalPosition: 1, takenAt: 100),
            // Incremental: u2 changes twice (the last wins), u3 goes, u4 comes; "records" is dropped.
            StateSnapshot(
                parts: ["a": [4]],
                entries: ["users": EntryChanges(replacesAll: false, changes: [("u2", [20]), ("u3", nil), ("u4", [4]), ("u2", [21])])],
                journalPosition: 2, takenAt: 200),
        ]
        for (n, snapshot) in snapshots.enumerated() {
            try await sqlite.save(snapshot, history: [])
            try await postgres.save(snapshot, history: [])
            let expected = try #require(try await sqlite.loadSnapshot())
            let reopened = try await PostgresStore(url: url, logger: Logger(label: "test"))
            for store in [postgres, reopened] {
                let loaded = try #require(try await store.loadSnapshot())
                #expect(loaded.parts == expected.parts, "snapshot \(n)")
                #expect(loaded.journalPosition == expected.journalPosition && loaded.takenAt == expected.takenAt)
                #expect(Set(loaded.entries.keys) == Set(expected.entries.keys))
                for (part, changes) in expected.entries {
                    let sorted = { (c: EntryChanges?) in (c?.changes ?? []).map { "\($0.key)=\($0.entry ?? [])" }.sorted() }
                    #expect(sorted(loaded.entries[part]) == sorted(changes), "part \(part) of snapshot \(n)")
                    #expect(loaded.entries[part]?.replacesAll == true)
                }
            }
            await reopened.close()
        }
        #expect(try await postgres.loadSnapshot()?.storedEntries(of: "users").count == 3)  // u1, u2, u4
        #expect(try await postgres.journal(after: 0).isEmpty)  // both entries are in the snapshot
        // Closed windows: an update replaces the earlier result.
        let windows = [
            WindowRecord(pipeline: "p", user: "u1", start: 0, end: 60, result: [1]),
            WindowRecord(pipeline: "p", user: "u1", start: 60, end: 120, result: [2]),
            WindowRecord(pipeline: "p", user: "u1", start: 0, end: 60, result: [3]),
        ]
        try await sqlite.record(windows)
        try await postgres.record(windows)
        #expect(try await postgres.windows(user: "u1", from: 0, to: 1000) == (try await sqlite.windows(user: "u1", from: 0, to: 1000)))
        #expect(try await postgres.windows(user: "u1", from: 0, to: 1000).map(\.result) == [[3], [2]])
    }

    @Test func theLedgerAndOffersCommitAsOnSQLite() async throws {
        let entries = (0..<5).map { LedgerEntry(user: "u\($0 % 2)", event: "e\($0)", rule: "r", kind: .award, points: 10 + $0, at: Int64($0), balance: 10 * $0) }
        let lot = BonusAccount.Lot(event: "e1", rule: "r", remaining: 7, expiresAt: 99)
        let commits: [(Int64, [LedgerEntry], [String: [UInt8]], [(user: String, change: BonusAccount.LotChange)])] = [
            (3, Array(entries.prefix(3)), ["u0": [1], "u1": [2]], [("u1", .write(lot)), ("u0", .write(BonusAccount.Lot(event: "e0", rule: "r", remaining: 5, expiresAt: 50)))]),
            (8, Array(entries.suffix(2)), ["u1": [3]], [("u0", .delete(event: "e0", rule: "r")), ("u1", .write(BonusAccount.Lot(event: "e1", rule: "r", remaining: 2, expiresAt: 99)))]),
            // One lot deleted and written again in one commit: the order matters (written part by part).
            (9, [], ["u1": [4]], [("u1", .delete(event: "e1", rule: "r")), ("u1", .write(BonusAccount.Lot(event: "e1", rule: "r", remaining: 1, expiresAt: 99))),
                                  ("u1", .write(BonusAccount.Lot(event: "e9", rule: "r", remaining: 3, expiresAt: 99)))]),
        ]
        for (position, entries, accounts, lots) in commits {
            try await sqlite.commitBonus(position: position, entries: entries, accounts: accounts, lotChanges: lots)
            try await postgres.commitBonus(position: position, entries: entries, accounts: accounts, lotChanges: lots)
        }
        #expect(try await postgres.ledgerPosition() == 9)
        #expect(try await postgres.ledger(user: "u1", limit: 1000) == (try await sqlite.ledger(user: "u1", limit: 1000)))
        #expect(try await postgres.ledger(user: "u1", limit: 1).map(\.event) == ["e3"])
        #expect(try await postgres.ledgerChanges(after: 2, limit: 10).map(\.entry) == (try await sqlite.ledgerChanges(after: 2, limit: 10)).map(\.entry))
        let accounts = try await postgres.bonusAccounts()
        let expected = try await sqlite.bonusAccounts()
        #expect(Set(accounts.keys) == Set(expected.keys))
        for (user, account) in expected {
            #expect(accounts[user]?.state == account.state)
            #expect(accounts[user]?.lots == account.lots)
        }
        #expect(accounts["u1"]?.lots.map(\.remaining) == [1, 3])

        let offers = [
            IssuedOffer(code: "o1", rule: "welcome", audience: .user("u1"), region: "", trigger: "e1", issuedAt: 10, validUntil: 100, title: "t", text: "x", discountPercent: 10, discountAmount: nil, categories: [], skus: []),
            IssuedOffer(code: "o2", rule: "region", audience: .region("north"), region: "north", trigger: "s", issuedAt: 20, validUntil: 30, title: "t", text: "x", discountPercent: nil, discountAmount: 5, categories: ["shoes"], skus: []),
            IssuedOffer(code: "o3", rule: "all", audience: .everyone, region: "", trigger: "s", issuedAt: 15, validUntil: 200, title: "t", text: "x", discountPercent: nil, discountAmount: nil, categories: [], skus: ["sku1"]),
        ]
        for store in [sqlite as any ClubStorage, postgres] {
            try await store.commitOffers(position: 4, offers: Array(offers.prefix(2)), facts: ["u1": [1]], occurrences: [:])
            try await store.commitOffers(position: nil, offers: [offers[2]], facts: ["u1": [2], "u2": [3]], occurrences: ["all": 15])
        }
        let state = try await postgres.offersState()
        #expect(state.position == 4 && state.facts == ["u1": [2], "u2": [3]] && state.occurrences == ["all": 15])
        let counters = try await postgres.offerCounters()
        let oracleCounters = try await sqlite.offerCounters()
        #expect(counters.issued == oracleCounters.issued && counters.issuedInRegion == oracleCounters.issuedInRegion)
        #expect(counters.lastIssued == oracleCounters.lastIssued)
        for (user, region, now) in [("u1", "north", Int64(25)), ("u2", nil, 50), ("u1", "south", 150)] {
            #expect(
                try await postgres.validOffers(user: user, region: region, now: now, limit: 500)
                    == (try await sqlite.validOffers(user: user, region: region, now: now, limit: 500)))
        }
        #expect(try await postgres.validOffers(user: "u1", region: "north", now: 25, limit: 500).count == 3)
        #expect(try await postgres.offerChanges(after: 0, limit: 10).map(\.members) == (try await sqlite.offerChanges(after: 0, limit: 10)).map(\.members))
        #expect(try await postgres.offerChanges(after: 1, limit: 10).count == 2)
    }

    @Test func theTelemetryHistoryWritesOnceAndReadsAsOnSQLite() async throws {
        func chunk(_ user: String, _ times: [Int64]) -> (user: String, chunk: SampleChunk) {
            var builder = SampleChunkBuilder()
            for ts in times { builder.append(TelemetrySample(user: user, device: "d", session: "s", ts: ts, sport: "run", distance: Double(ts) / 100, heartRate: 140)) }
            return (user, builder.build()!)
        }
        let minute = Rollup(samples: 2, distance: 15, movingMillis: 2_000, heartRateSum: 280, heartRateCount: 2, heartRateMax: 150)
        let batches = [
            HistoryBatch(generation: 1, chunks: [chunk("u1", [1_000, 2_000]), chunk("u2", [1_500])], minutes: [MinuteRow(user: "u1", start: 0, rollup: minute)]),
            HistoryBatch(generation: 2, chunks: [chunk("u1", [61_000])], minutes: [MinuteRow(user: "u1", start: 60_000, rollup: minute), MinuteRow(user: "u1", start: 0, rollup: Rollup(samples: 3, distance: 20, movingMillis: 3_000, heartRateSum: 420, heartRateCount: 3, heartRateMax: 155))]),
        ]
        let snapshot = StateSnapshot(parts: [:], journalPosition: 0, takenAt: 1)
        for store in [sqlite as any ClubStorage, postgres] {
            try await store.save(snapshot, history: batches)
            try await store.save(snapshot, history: batches)  // handed again: written once
        }
        for resolution in HistoryResolution.allCases {
            let read = try await postgres.historyRollups(resolution, user: "u1", from: 0, to: 100_000_000)
            let expected = try await sqlite.historyRollups(resolution, user: "u1", from: 0, to: 100_000_000)
            #expect(read.value == expected.value && read.generation == 2)
        }
        #expect(try await postgres.historyRollups(.day, user: "u1", from: 0, to: 100_000_000).value[0]?.samples == 5)
        let samples = try await postgres.historySamples(user: "u1", from: 0, to: 100_000)
        #expect(samples.value == (try await sqlite.historySamples(user: "u1", from: 0, to: 100_000)).value)
        #expect(samples.value.map(\.ts) == [1_000, 2_000, 61_000])
        #expect(try await postgres.deleteHistory(samplesBefore: 50_000, minutesBefore: 30_000, daysBefore: nil, limit: 100)
            == (try await sqlite.deleteHistory(samplesBefore: 50_000, minutesBefore: 30_000, daysBefore: nil, limit: 100)))
        #expect(try await postgres.historySamples(user: "u1", from: 0, to: 100_000).value.map(\.ts) == [61_000])
    }
}
