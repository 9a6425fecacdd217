import ClubRuntime
import Foundation
import Synchronization
import Testing

/// The bounded hand-off between the ingest thread and the pipeline loop: bounded in items and
/// in weight (bytes received), an item heavier than the bound still passes an empty inbox, and
/// a delivered item is released as soon as its consumer drops it.
@Suite struct InboxTests {
    /// A payload whose release can be observed.
    final class Releases: Sendable {
        let count = Atomic(0)
        var value: Int { count.load(ordering: .relaxed) }
    }

    final class Payload: Sendable {
        let releases: Releases
        init(_ releases: Releases) { self.releases = releases }
        deinit { releases.count.add(1, ordering: .relaxed) }
    }

    /// What a `put` on another thread returned, once it returned.
    final class PutResult: Sendable {
        private let result = Mutex<Bool?>(nil)
        var value: Bool? { result.withLock { $0 } }
        var returned: Bool { value != nil }
        func set(_ taken: Bool) { result.withLock { $0 = taken } }
    }

    /// Puts `item` on a thread of its own.
    static func putInBackground(_ inbox: Inbox<Int>, _ item: Int, weight: Int) -> PutResult {
        let done = PutResult()
        Thread { done.set(inbox.put(item, weight: weight)) }.start()
        return done
    }

    static func settle() async { try? await Task.sleep(for: .milliseconds(200)) }

    /// Waits up to 10 s for `put` to have returned (a loaded machine may be slow to run the thread).
    static func returned(_ put: PutResult) async -> Bool {
        for _ in 0..<1_000 where !put.returned { try? await Task.sleep(for: .milliseconds(10)) }
        return put.returned
    }

    @Test func aPutWaitsWhileTheWeightWouldPassTheBoundAndGoesOnWhenRoomIsMade() async {
        let inbox = Inbox<Int>(capacity: 100, maxWeight: 1_000)
        inbox.put(1, weight: 600)
        inbox.put(2, weight: 400)
        #expect(inbox.weight == 1_000 && inbox.depth == 2)
        let third = Self.putInBackground(inbox, 3, weight: 1)
        await Self.settle()
        #expect(third.returned == false, "a put past the weight bound must wait")
        #expect(await inbox.next() == 1)  // frees 600
        #expect(await Self.returned(third))
        #expect(inbox.weight == 401 && inbox.depth == 2)
        #expect(await inbox.next() == 2)
        #expect(await inbox.next() == 3)
        #expect(inbox.weight == 0 && inbox.depth == 0)
    }

    @Test func theItemCountStillBounds() async {
        let inbox = Inbox<Int>(capacity: 2, maxWeight: .max)
        inbox.put(1, weight: 1)
        inbox.put(2, weight: 1)
        let third = Self.putInBackground(inbox, 3, weight: 1)
        await Self.settle()
        #expect(third.returned == false)
        #expect(await inbox.next() == 1)
        #expect(await Self.returned(third))
    }

    @Test func anItemHeavierThanTheBoundPassesAnEmptyInboxAlone() async {
        let inbox = Inbox<Int>(capacity: 100, maxWeight: 100)
        inbox.put(1, weight: 5_000)  // would block for ever if the bound were absolute
        #expect(inbox.weight == 5_000)
        let second = Self.putInBackground(inbox, 2, weight: 1)
        await Self.settle()
        #expect(second.returned == false)
        #expect(await inbox.next() == 1)
        #expect(await Self.returned(second))
        #expect(await inbox.next() == 2)
    }

    @Test func unboundedItemsWeighNothingAndNeverWait() async {
        let inbox = Inbox<Int>(capacity: 1, maxWeight: 10)
        inbox.put(1, weight: 10)
        for item in 2...50 { #expect(inbox.putUnbounded(item)) }
        #expect(inbox.depth == 50 && inbox.weight == 10)
        for item in 1...50 { #expect(await inbox.next() == item) }
        #expect(inbox.weight == 0)
    }

    /// A delivered batch was kept alive by its slot until the array was next compacted (more
    /// than 1,024 items later): up to a thousand decoded batches held after processing.
    @Test func aDeliveredItemIsReleasedWhenItsConsumerIsDone() async {
        let released = Releases()
        let inbox = Inbox<Payload>(capacity: 10_000)
        for _ in 0..<10 { inbox.put(Payload(released)) }
        for taken in 1...5 {
            _ = await inbox.next()
            #expect(released.value == taken, "item \(taken) was still held by the inbox")
        }
        inbox.close()
        while await inbox.next() != nil {}
        #expect(released.value == 10)
    }

    @Test func closeWakesABlockedPutWhichReportsTheItemNotTaken() async {
        let inbox = Inbox<Int>(capacity: 1, maxWeight: 10)
        inbox.put(1, weight: 10)
        let taken = Self.putInBackground(inbox, 2, weight: 10)
        await Self.settle()
        #expect(taken.value == nil)
        inbox.close()
        #expect(await Self.returned(taken))
        #expect(taken.value == false)
        #expect(await inbox.next() == 1)
        #expect(await inbox.next() == nil)
    }
}
