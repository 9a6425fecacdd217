/// A consistent snapshot of the pipelines' state: named state blobs (each part's binary state)
/// and the journal position they include.
public struct StateSnapshot: Sendable {
    public var parts: [String: [UInt8]]
    /// Every journal entry up to and including this one is reflected in `parts`.
    public var journalPosition: Int64
    public var takenAt: Int64

    public init(parts: [String: [UInt8]], journalPosition: Int64, takenAt: Int64) {
        self.parts = parts
        self.journalPosition = journalPosition
        self.takenAt = takenAt
    }

    public var byteCount: Int { parts.values.reduce(0) { $0 + $1.count } }
}
