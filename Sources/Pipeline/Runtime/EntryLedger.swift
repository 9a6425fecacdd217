import ClubKernel

/// One keyed snapshot part (``StateSnapshot/entries``) as a snapshot captured it on the loop.
enum CapturedEntries: Sendable {
    /// Every entry: encoded off the loop by the closure, from the copy-on-write state it holds.
    case all(@Sendable () -> [(key: String, entry: [UInt8])])
    /// The entries changed since the last confirmed save, encoded on the loop (nil: deleted).
    case changes([(key: String, entry: [UInt8]?)])

    /// What the store writes; for ``all``, the entries are encoded here.
    var entryChanges: EntryChanges {
        switch self {
        case .all(let encode): EntryChanges(replacesAll: true, changes: encode().map { ($0.key, $0.entry) })
        case .changes(let changes): EntryChanges(replacesAll: false, changes: changes)
        }
    }
}

/// The bookkeeping of one keyed snapshot part for the stage that owns it: which entries
/// changed since the last confirmed save, and whether the next snapshot must write them all.
///
/// Every snapshot carries all the entries changed since the last one confirmed stored, so a
/// failed save loses nothing; a snapshot that writes every entry (the part's first, or after
/// a restore from a whole-state snapshot of an earlier version) is repeated until one is
/// confirmed.
struct EntryLedger {
    private var unsaved: [String: (generation: Int64, entry: [UInt8]?)] = [:]
    private var needsAll: Bool
    private var allUnconfirmed: Int64?

    /// - Parameter stored: the part's entries are stored as they stand (restored from them).
    init(stored: Bool) {
        needsAll = !stored
    }

    /// The part in snapshot `generation`.
    /// - Parameters:
    ///   - changed: what changed since the last capture (the owner's own identities).
    ///   - key: an identity's entry key.
    ///   - entry: an identity's entry now (nil: deleted); called only when writing changes.
    ///   - all: every entry, when this snapshot must write them all.
    mutating func capture<Identity>(
        generation: Int64, changed: [Identity], key: (Identity) -> String, entry: (Identity) -> [UInt8]?,
        all: @escaping @Sendable () -> [(key: String, entry: [UInt8])]
    ) -> CapturedEntries {
        if needsAll || allUnconfirmed != nil {
            needsAll = false
            allUnconfirmed = generation
            unsaved = [:]
            return .all(all)
        }
        for identity in changed { unsaved[key(identity)] = (generation, entry(identity)) }
        return .changes(unsaved.map { ($0.key, $0.value.entry) })
    }

    /// Snapshot `generation`, and every one before it, is stored.
    mutating func confirm(through generation: Int64) {
        if let all = allUnconfirmed, all <= generation { allUnconfirmed = nil }
        guard !unsaved.isEmpty else { return }
        unsaved = unsaved.filter { $0.value.generation > generation }
    }
}
