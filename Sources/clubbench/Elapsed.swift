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
