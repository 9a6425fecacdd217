/// What became of an event offered to the log.
public enum AppendOutcome: Sendable, Equatable {
    case new
    /// Its id is in the log already.
    case duplicate
    /// A workout from an external system without the user's active connection.
    case refused(String)
}
