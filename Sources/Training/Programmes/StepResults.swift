import Foundation

/// The results of every user on one step of a programme, ranked in O(log n): counts in
/// buckets of 0.1 % width (logarithmic, 0.001 to 10^7) kept in a Fenwick tree, so that adding,
/// removing and ranking one result cost the same with a hundred or a million results. A
/// percentile says what share of the other results this one beats (as for comparisons).
public struct StepResults: Sendable, Equatable {
    /// Counts per bucket as a Fenwick tree (1-based).
    private var tree: [Int32]
    public private(set) var count = 0

    static let lowest = 0.001
    static let ratio = 1.001
    static let buckets = Int((log(1e7 / lowest) / log(ratio)).rounded(.up)) + 1

    public init() { tree = [Int32](repeating: 0, count: Self.buckets + 1) }

    static func bucket(_ value: Double) -> Int {
        guard value > lowest else { return 1 }
        return min(Int(log(value / lowest) / log(ratio)) + 1, buckets)
    }

    public mutating func add(_ value: Double) { update(Self.bucket(value), by: 1) }

    public mutating func remove(_ value: Double) { update(Self.bucket(value), by: -1) }

    private mutating func update(_ bucket: Int, by delta: Int32) {
        count += Int(delta)
        var i = bucket
        while i <= Self.buckets {
            tree[i] += delta
            i += i & -i
        }
    }

    /// Results in buckets 1…`bucket`.
    private func prefix(_ bucket: Int) -> Int {
        var sum = 0
        var i = bucket
        while i > 0 {
            sum += Int(tree[i])
            i -= i & -i
        }
        return sum
    }

    /// The share (0–100, one decimal) of the other results that `value` beats — lower ones
    /// when higher is better, higher ones otherwise — or nil when no other user has a result.
    /// `value` itself is one of the results.
    public func percentile(of value: Double, lowerIsBetter: Bool) -> Double? {
        let others = count - 1
        guard others > 0 else { return nil }
        let bucket = Self.bucket(value)
        let below = prefix(bucket - 1)
        let above = count - prefix(bucket)
        let beaten = lowerIsBetter ? above : below
        return (Double(beaten) / Double(others) * 1000).rounded() / 10
    }
}
