/// One line of the points ledger: an award, a spend or an expiry, tied to the event that
/// caused it and the rule that decided it.
public struct LedgerEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case award, spend, expire
    }

    public let user: String
    /// The id of the activity event behind the entry (for an expiry: the award's event).
    public let event: String
    /// The rule that awarded the points; `spend` for a spend.
    public let rule: String
    public let kind: Kind
    /// Signed: positive for awards, negative for spends and expiries.
    public let points: Int
    /// Event time of the entry (for an expiry: when the points expired), epoch ms.
    public let at: Int64
    /// The user's balance after this entry.
    public let balance: Int

    public init(user: String, event: String, rule: String, kind: Kind, points: Int, at: Int64, balance: Int) {
        self.user = user
        self.event = event
        self.rule = rule
        self.kind = kind
        self.points = points
        self.at = at
        self.balance = balance
    }
}
