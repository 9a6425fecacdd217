import Foundation

/// The bounded hand-off into the pipeline: a dedicated receiving thread blocks in
/// ``put(_:)`` while the inbox is full, which stops it reading its socket, so ZeroMQ's
/// high-water mark pushes back on the senders instead of memory growing.
///
/// Items from the command socket and the daemon itself skip the bound (``putUnbounded(_:)``):
/// they are few, and their callers run on the cooperative pool, which must never block.
public final class Inbox<Item: Sendable>: @unchecked Sendable {
    // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var items: [Item] = []
    private var head = 0
    private var waiter: CheckedContinuation<Item?, Never>?
    private var closed = false
    private let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Items waiting.
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// Adds an item, blocking the calling thread while the inbox is full.
    /// - Returns: false when the inbox is closed and the item was not taken.
    @discardableResult
    public func put(_ item: Item) -> Bool {
        condition.lock()
        while !closed && items.count - head >= capacity { condition.wait() }
        return deliverLocked(item)
    }

    /// Adds an item without waiting for room. Never call ``put(_:)`` from the cooperative pool.
    @discardableResult
    public func putUnbounded(_ item: Item) -> Bool {
        condition.lock()
        return deliverLocked(item)
    }

    private func deliverLocked(_ item: Item) -> Bool {
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
        items.append(item)
        condition.unlock()
        return true
    }

    /// The next item, or nil once the inbox is closed and empty. One consumer only.
    public func next() async -> Item? {
        await withCheckedContinuation { continuation in
            condition.lock()
            if head < items.count {
                let item = items[head]
                head += 1
                if head > 1024 && head * 2 > items.count {
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
