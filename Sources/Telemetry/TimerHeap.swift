/// A binary min-heap of (due time, user), so that idle users' windows close without
/// scanning every user. Ties are broken by user id, so the order is reproducible.
struct TimerHeap {
    private var entries: [(due: Int64, user: String)] = []

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var minimum: (due: Int64, user: String)? { entries.first }

    mutating func push(_ due: Int64, _ user: String) {
        entries.append((due, user))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(entries[child], entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMinimum() -> (due: Int64, user: String)? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, less(entries[left], entries[smallest]) { smallest = left }
            if right < entries.count, less(entries[right], entries[smallest]) { smallest = right }
            if smallest == parent { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }

    private func less(_ a: (due: Int64, user: String), _ b: (due: Int64, user: String)) -> Bool {
        a.due != b.due ? a.due < b.due : a.user < b.user
    }
}
