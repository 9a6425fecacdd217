import ClubKernel
import Events
import Users

/// The `history` op's reads: storage, with what the history stage holds beyond its last commit
/// laid over it (the current minute and day count what has arrived).
extension PipelineRuntime {
    /// Points of one resolution, oldest first, cut at `limit`.
    public struct HistoryPage: Sendable {
        public var samples: [TelemetrySample] = []
        public var rollups: [(start: Int64, end: Int64, rollup: Rollup)] = []
        /// Where the next page starts, when `limit` cut this one.
        public var nextFrom: Int64?
    }

    /// A user's history in [`from`, `to`); nil when no history is kept.
    public nonisolated func history(
        of user: String, from: Int64, to: Int64, resolution: HistoryResolution, limit: Int
    ) async throws -> HistoryPage? {
        // The overlay first: a batch it no longer holds was committed before the read below.
        guard let overlay = await historyOverlay(of: user) else { return nil }
        var page = HistoryPage()
        switch resolution {
        case .sample:
            let read = try await store.historySamples(user: user, from: from, to: to)
            let held = overlay.after(read.generation).samples.filter { $0.ts >= from && $0.ts < to }
            if read.corrupt > 0 { corruptChunks.increment(by: Int64(read.corrupt)) }
            var samples = read.value + held
            // Stable: samples of one time keep their arrival order.
            samples = samples.enumerated().sorted { ($0.element.ts, $0.offset) < ($1.element.ts, $1.offset) }.map(\.element)
            if samples.count > limit {
                var cut = limit
                while cut > 0, samples[cut - 1].ts == samples[limit].ts { cut -= 1 }
                if cut == 0 { cut = limit }
                page.nextFrom = samples[cut].ts
                samples.removeSubrange(cut...)
            }
            page.samples = samples
        case .minute:
            let read = try await store.historyRollups(.minute, user: user, from: from, to: to)
            var minutes = read.value
            for (start, rollup) in overlay.after(read.generation).minutes where start >= from && start < to { minutes[start] = rollup }
            page.rollups = minutes.sorted { $0.key < $1.key }.map { ($0.key, $0.key + HistorySettings.minute, $0.value) }
        case .day:
            let read = try await store.historyRollups(.day, user: user, from: from, to: to)
            var days = read.value
            let held = overlay.after(read.generation).minutes
            // A day with minutes held in memory is summed again from its minutes.
            for day in Set(held.keys.map(HistorySettings.dayStart)) where day >= from && day < to {
                var minutes = try await store.historyRollups(.minute, user: user, from: day, to: day + HistorySettings.day).value
                for (start, rollup) in held where HistorySettings.dayStart(start) == day { minutes[start] = rollup }
                days[day] = Rollup.days(of: minutes)[day]
            }
            page.rollups = days.sorted { $0.key < $1.key }.map { ($0.key, $0.key + HistorySettings.day, $0.value) }
        }
        page.rollups.removeAll { $0.rollup.samples == 0 }
        if resolution != .sample, page.rollups.count > limit {
            page.nextFrom = page.rollups[limit].start
            page.rollups.removeSubrange(limit...)
        }
        return page
    }
}
