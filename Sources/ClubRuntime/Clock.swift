import Foundation

/// Wall-clock time in epoch milliseconds: what the runtime and the stages pass to the engines
/// as `now` (the engines never read the clock themselves).
public enum Clock {
    public static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

extension Duration {
    /// Whole milliseconds, for logs.
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
