import ClubKernel

/// The bookkeeping of one keyed snapshot part (``StateSnapshot/entries``) for the stage that
/// owns it: which entries changed since the last confirmed save, and whether the next
/// snapshot must write them all.
///
/// Every snapshot carries all the entries changed since the last one confirmed stored, so a
/// failed save loses nothing; a snapshot that writes every entry (the part's first, or after
/// a restore from a whole-state snapshot of an earlier version) is repeated until one is
/// confirmed.
struct EntryLedger {
    private var unsaved: [String: (generation: Int64, entry: [UInt8]?)] = [:]
    private var needsFull: Bool
    private var fullUnconfirmed: Int64?

    /// - Parameter stored: the part's entries are stored as they stand (restored from them).
    init(stored: Bool) {
        needsFull = !stored
    }

    /// Starts snapshot `generation`. - Returns: true when it must write every entry; the
    /// changes noted so far are then dropped (the full write covers them).
    mutating func beginCapture(generation: Int64) -> Bool {
        guard needsFull || fullUnconfirmed != nil else { return false }
        needsFull = false
        fullUnconfirmed = generation
        unsaved = [:]
        return true
    }

    /// Notes `key`'s entry as it is at snapshot `generation` (nil: deleted).
    mutating func note(_ key: String, _ entry: [UInt8]?, generation: Int64) {
        unsaved[key] = (generation, entry)
    }

    /// The entries to write: every one changed since the last confirmed save.
    var changes: [(key: String, entry: [UInt8]?)] { unsaved.map { ($0.key, $0.value.entry) } }

    /// Snapshot `generation`, and every one before it, is stored.
    mutating func confirm(through generation: Int64) {
        if let full = fullUnconfirmed, full <= generation { fullUnconfirmed = nil }
        guard !unsaved.isEmpty else { return }
        unsaved = unsaved.filter { $0.value.generation > generation }
    }
}
