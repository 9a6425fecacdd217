import ClubKernel
import ClubTestKit
import Foundation
import Logging
import Pipeline
import PostgresStorage
import Testing

/// Concurrent appends are decided as one writer would: each id is new exactly once however the
/// writes raced, the log's offsets are gapless, each submission gets a journal entry of its own,
/// and the counts read back from the server.
@Suite(.enabled(if: PostgresServer.shared != nil, "\(PostgresServer.unavailableReason)"))
struct ConcurrentWritesTests {
    @Test func concurrentWritesAreDecidedAsOneWriterWould() async throws {
        let url = try PostgresURL(try PostgresServer.shared!.createDatabase())
        let store = try await PostgresStore(url: url, connections: 4, logger: Logger(label: "test"))
        let writers = 16, writes = 25, perWrite = 4
        // Every writer sends ids 0..<writes*perWrite of its own, and every 5th write repeats ids
        // of a shared pool that all the writers race for.
        let results = try await withThrowingTaskGroup(of: (new: Int, duplicates: Int, journal: [Int64]).self) { group in
            for w in 0..<writers {
                group.addTask {
                    var new = 0, duplicates = 0
                    var journal: [Int64] = []
                    for k in 0..<writes {
                        var events = (0..<perWrite).map { n in
                            EngineEquivalenceTests.event("w\(w)-\(k * perWrite + n)", "club.visited", user: "u\(w)")
                        }
                        if k % 5 == 0 { events.append(EngineEquivalenceTests.event("shared-\(k)", "club.visited", user: "u-shared")) }
                        let (seq, outcomes) = try await store.appendSubmission(journal: Array("t\(w)-\(k)".utf8), events: events, receivedAt: 1)
                        if let seq { journal.append(seq) }
                        new += outcomes.filter { $0 == .new }.count
                        duplicates += outcomes.filter { $0 == .duplicate }.count
                    }
                    return (new, duplicates, journal)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let shared = (0..<writes).filter { $0 % 5 == 0 }.count
        #expect(results.map(\.new).reduce(0, +) == writers * writes * perWrite + shared, "each id new exactly once")
        #expect(results.map(\.duplicates).reduce(0, +) == (writers - 1) * shared)
        let seqs = results.flatMap(\.journal)
        #expect(seqs.count == writers * writes && Set(seqs).count == seqs.count, "one journal entry per submission")
        let entries = try await store.activity(after: 0, limit: 100_000)
        #expect(entries.count == writers * writes * perWrite + shared)
        #expect(entries.map(\.offset) == Array(1...Int64(entries.count)), "gapless, in order")
        #expect(Set(entries.map(\.id)).count == entries.count)
        #expect(try await store.journal(after: 0).count == writers * writes)
        await store.close()
    }
}
