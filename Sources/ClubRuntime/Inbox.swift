import Foundation

/// The bounded hand-off into the pipeline: a dedicated receiving thread blocks in
/// ``put(_:weight:)`` while the inbox is full, which stops it reading its socket, so ZeroMQ's
/// high-water mark pushes back on the senders instead of memory growing.
///
/// Full means `capacity` items, or `maxWeight` of their weights (the ingest receiver weighs a
/// batch by the bytes it received): a count of batches alone bounds nothing when one batch
/// may hold 1,024 frames of 100 events each. An item heavier than `maxWeight` is still taken
/// when the inbox is empty.
///
/// Items from the command socket and the daemon itself skip the bound (``putUnbounded(_:)``):
/// they are few, and their callers run on the cooperative pool, which must never block.
public final class Inbox<Item: Sendable>: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    /// Waiting items with their weights (0 for unbounded items) from `head` on; a taken slot
    /// is emptied at once, so that a delivered batch is freed when its consumer is done with
    /// it, not when the array is next compacted.
    private var items: [(item: Item, weight: Int)?] = []
    private var head = 0
    private var waiter: CheckedContinuation<Item?, Never>?
    private var weightHeld = 0
    private var closed = false
    private let capacity: Int
    private let maxWeight: Int

    /// - Parameters:
    ///   - capacity: items held at most.
    ///   - maxWeight: total weight held at most (see ``put(_:weight:)``).
    public init(capacity: Int, maxWeight: Int = .max) {
        self.capacity = capacity
        self.maxWeight = maxWeight
    }

    /// Total weight of the items waiting.
    public var weight: Int {
        condition.lock()
        defer { condition.unlock() }
        return weightHeld
    }

    /// Items waiting.
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// Adds an item, blocking the calling thread while the inbox is full: while it holds
    /// `capacity` items, or while this item's `weight` would take it past `maxWeight` (unless
    /// it is empty).
    /// - Returns: false when the inbox is closed and the item was not taken.
    @discardableResult
    public func put(_ item: Item, weight: Int = 0) -> Bool {
        condition.lock()
        while !closed && (items.count - head >= capacity || (weightHeld > 0 && weightHeld + weight > maxWeight)) {
            condition.wait()
        }
        return deliverLocked(item, weight: weight)
    }

    /// Adds an item without waiting for room. Never call ``put(_:)`` from the cooperative pool.
    @discardableResult
    public func putUnbounded(_ item: Item) -> Bool {
        condition.lock()
        return deliverLocked(item, weight: 0)
    }

    private func deliverLocked(_ item: Item, weight: Int) -> Bool {
        guard !closed else {
            condition.unlock()
            return false
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: item)
            return true
        }
        items.append((item, weight))
        weightHeld += weight
        condition.unlock()
        return true
    }

    /// The next item, or nil once the inbox is closed and empty. One consumer only.
    public func next() async -> Item? {
        await withCheckedContinuation { continuation in
            condition.lock()
            if head < items.count {
                let (item, weight) = items[head].take()!
                weightHeld -= weight
                head += 1
                if head == items.count {
                    items.removeAll(keepingCapacity: true)
                    head = 0
                } else if head > 1024 && head * 2 > items.count {
                    items.removeFirst(head)
                    head = 0
                }
                condition.broadcast()
                condition.unlock()
                continuation.resume(returning: item)
            } else if closed {
                condition.unlock()
                continuation.resume(returning: nil)
            } else {
                waiter = continuation
                condition.unlock()
            }
        }
    }

    /// Refuses new items; items already in are still delivered, then `next()` returns nil.
    public func close() {
        condition.lock()
        closed = true
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
    }
}
