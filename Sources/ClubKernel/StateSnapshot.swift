/// A consistent snapshot of the pipelines' state: named state blobs (each part's binary state),
/// keyed parts saved incrementally (``entries``), and the journal position they include.
public struct StateSnapshot: Sendable {
    public var parts: [String: [UInt8]]
    /// Parts kept as one entry per key (a user), saved incrementally: each names what changed
    /// since the previous snapshot, or replaces every stored entry of its part. A keyed part
    /// stored but absent here is deleted. Loaded, each holds all its entries (`replacesAll`).
    public var entries: [String: EntryChanges]
    /// Every journal entry up to and including this one is reflected in `parts`.
    public var journalPosition: Int64
    public var takenAt: Int64

    public init(parts: [String: [UInt8]], entries: [String: EntryChanges] = [:], journalPosition: Int64, takenAt: Int64) {
        self.parts = parts
        self.entries = entries
        self.journalPosition = journalPosition
        self.takenAt = takenAt
    }

    /// The stored entries of keyed part `part` (none when it has none).
    public func storedEntries(of part: String) -> [(key: String, entry: [UInt8])] {
        (entries[part]?.changes ?? []).compactMap { key, entry in entry.map { (key, $0) } }
    }

    /// Bytes of state this snapshot writes.
    public var byteCount: Int {
        parts.values.reduce(0) { $0 + $1.count } + entries.values.reduce(0) { $0 + $1.byteCount }
    }
}

/// The entries of one keyed part to write: every entry (`replacesAll`), or those that changed.
public struct EntryChanges: Sendable {
    /// True: these are all the part's entries (any other stored entry of it is deleted).
    public var replacesAll: Bool
    /// Per key its entry, or nil: the key's entry is deleted.
    public var changes: [(key: String, entry: [UInt8]?)]

    public init(replacesAll: Bool, changes: [(key: String, entry: [UInt8]?)]) {
        self.replacesAll = replacesAll
        self.changes = changes
    }

    public var byteCount: Int { changes.reduce(0) { $0 + ($1.entry?.count ?? 0) } }
}
