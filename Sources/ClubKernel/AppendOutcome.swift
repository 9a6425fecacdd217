/// What became of an event offered to the log.
public enum AppendOutcome: Sendable, Equatable {
    case new
    /// Its id is in the log already.
    case duplicate
    /// Refused where the log decides it, in log order: a workout from an external system
    /// without the user's active connection (`no_consent`), or an event an
    /// ``AdmissionGate`` refuses (a post by a non-member: `forbidden`).
    case refused(RejectReason, String)
}
