/// The command socket's operations, by their names on the wire.
public enum Op: String, Sendable, CaseIterable {
    case health, submit, stats, balance, ledger, leaderboard, workouts
    case `import`
    case forgetImports = "forget_imports"
    case offers
    case offersPreview = "offers.preview"
    case ledgerChanges = "ledger.changes"
    case offersChanges = "offers.changes"
    case exercises, programmes, programme, progress
    case groups, group, recommendations, sessions, session, discussion, competition
    case devices, gear, history
    case reload, snapshot

    /// The `unknown_op` error for a name that is none of these.
    public static func unknown(_ name: String) -> CommandError {
        CommandError(
            "unknown_op", "unknown op '\(name.prefix(40))': expected \(allCases.map(\.rawValue).joined(separator: ", "))")
    }
}
