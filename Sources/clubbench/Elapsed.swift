import Dispatch

extension DispatchTime {
    /// Seconds from this instant until now.
    var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - uptimeNanoseconds) / 1e9 }
}

extension [Double] {
    /// The middle value (the upper one of an even count): what the benchmarks report of their
    /// alternated rounds, robust against one noisy round.
    var median: Double { sorted()[count / 2] }
}

/// Runs `measure` for each mode in turn, `rounds` times, and gathers its results by mode: how the
/// benchmarks compare configurations on a noisy machine (then report medians).
func alternate<T>(_ modes: [String], rounds: Int, _ measure: (_ round: Int, _ mode: String) throws -> T) rethrows -> [String: [T]] {
    var results: [String: [T]] = [:]
    for round in 1...rounds {
        for mode in modes { results[mode, default: []].append(try measure(round, mode)) }
    }
    return results
}
