/// What the offer stage committed: its log position, the facts per user (serialized)
/// and the last handled occurrence of each scheduled rule.
public struct OffersState: Sendable {
    public var position: Int64
    public var facts: [String: [UInt8]]
    public var occurrences: [String: Int64]

    public init(position: Int64, facts: [String: [UInt8]], occurrences: [String: Int64]) {
        self.position = position
        self.facts = facts
        self.occurrences = occurrences
    }
}
