import ClubKernel
import ClubRuntime
import Synchronization
import Offers
import Testing
import Training

@testable import Pipeline

/// The hand-off from the training stage to the offer stage: entries in log order with their
/// facts, the offer stage's offset moving past what was not handed, entries kept until
/// committed (a failed commit reads them again), and the training stage's wait for a commit.
@Suite struct OfferHandOffTests {
    static func event(_ offset: Int64, _ type: String = "workout") -> ActivityEvent {
        ActivityEvent(offset: offset, id: "e\(offset)", type: type, user: "u\(offset % 3)", at: offset, json: Array(#"{"type":"\#(type)"}"#.utf8))
    }

    static func facts(_ region: String) -> UserFacts { UserFacts(region: region, interests: [], workouts: WorkoutBook(), gear: nil) }

    @Test func entriesComeInOrderWithTheirFactsUntilCommitted() async throws {
        let newest = Atomic<Int64>(30)
        let handOff = OfferHandOff(handed: 10, committed: 12, signal: LogSignal(), newest: { newest.load(ordering: .relaxed) })
        // Up to the offer stage's commit, entries are not kept (a replay of the training stage).
        handOff.hand([.init(event: Self.event(11), facts: Self.facts("old")), .init(event: Self.event(13), facts: Self.facts("A"))], through: 14)
        handOff.hand([.init(event: Self.event(20, "review.posted"), facts: nil), .init(event: Self.event(25), facts: Self.facts("B"))], through: 30)
        let first = try await handOff.activity(after: 12, limit: 2, types: [])
        #expect(first.records.map(\.offset) == [13, 20] && first.through == 20)
        #expect(handOff.facts(at: 13)?.region == "A" && handOff.facts(at: 20) == nil && handOff.facts(at: 11) == nil)
        let second = try await handOff.activity(after: 20, limit: 2, types: [])
        #expect(second.records.map(\.offset) == [25] && second.through == 30)  // past what was not handed: up to 30
        // Nothing committed yet: after a failure the stage reads from its commit again.
        #expect(try await handOff.activity(after: 12, limit: 10, types: []).records.map(\.offset) == [13, 20, 25])
        handOff.committed(through: 20)
        #expect(try await handOff.activity(after: 20, limit: 10, types: []).records.map(\.offset) == [25])
        #expect(handOff.facts(at: 25)?.region == "B" && handOff.facts(at: 13) == nil)
        let empty = try await handOff.activity(after: 30, limit: 10, types: [])
        #expect(empty.records.isEmpty && empty.through == 30)

        // The training stage reading ahead of the log's end: a full batch, or a short wait.
        newest.store(100, ordering: .relaxed)
        #expect(handOff.newestActivityOffset == 100)  // lag is against the log
        handOff.hand([.init(event: Self.event(40), facts: nil)], through: 50)
        #expect(try await handOff.activity(after: 30, limit: 2, types: []).through == 30)  // one of two: not yet
        try await Task.sleep(for: .milliseconds(OfferHandOff.patience + 20))
        let late = try await handOff.activity(after: 30, limit: 2, types: [])
        #expect(late.records.map(\.offset) == [40] && late.through == 50)
        handOff.hand([.init(event: Self.event(60), facts: nil), .init(event: Self.event(61), facts: nil)], through: 70)
        #expect(try await handOff.activity(after: 50, limit: 2, types: []).records.map(\.offset) == [60, 61])  // a full batch at once
    }

    @Test func theTrainingStageWaitsForTheOfferStageToCommit() async throws {
        let handOff = OfferHandOff(handed: 0, committed: 0, signal: LogSignal(), capacity: 2, newest: { 0 })
        handOff.hand((1...3).map { .init(event: Self.event($0), facts: nil) }, through: 3)
        #expect(!handOff.hasRoom)
        #expect(handOff.commitWanted == nil)
        #expect(await handOff.waitCommitted(through: 3, timeout: .milliseconds(50)) == false)
        #expect(handOff.commitWanted == 3)  // asked for
        let waiting = Task { await handOff.waitCommitted(through: 3, timeout: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(20))
        _ = try await handOff.activity(after: 0, limit: 10, types: [])
        #expect(!handOff.hasRoom)  // read from 0: applied nothing yet
        _ = try await handOff.activity(after: 3, limit: 10, types: [])
        #expect(handOff.hasRoom)  // applied, not committed: kept, but no longer holding the training stage up
        handOff.committed(through: 3)
        #expect(await waiting.value)
        #expect(handOff.commitWanted == nil)
    }
}
