import ClubKernel
import Events
import Telemetry

/// How long the history keeps each resolution, and how its minutes are windowed. Durations in
/// milliseconds; nil keeps forever.
public struct HistorySettings: Sendable, Equatable {
    public var samplesFor: Int64? = 30 * 86_400_000
    public var minutesFor: Int64? = 365 * 86_400_000
    public var daysFor: Int64?
    /// The minutes are one-minute tumbling windows with the window operator's rules (the
    /// contract's counter rule, duplicates, lateness), so that they add up to the pipelines'
    /// windows; a sample later than this for its minute is late for the history too.
    public var allowedLateness: Int64 = 120_000
    public var outOfOrderness: Int64 = 5_000
    public var idleTimeout: Int64 = 300_000

    public init() {}

    public static let minute: Int64 = 60_000
    public static let day: Int64 = 86_400_000

    /// The start of the UTC day holding `ts`.
    public static func dayStart(_ ts: Int64) -> Int64 { ts - ((ts % day) + day) % day }

    /// The minutes' windows: one-minute tumbling with the settings' rules.
    public var spec: WindowSpec {
        WindowSpec(kind: .tumbling(size: Self.minute), allowedLateness: allowedLateness, outOfOrderness: outOfOrderness, idleTimeout: idleTimeout)
    }
}

/// One rollup point: the sums a minute or a day holds.
public struct Rollup: Sendable, Equatable {
    public var samples = 0
    public var distance = 0.0
    public var movingMillis: Int64 = 0
    public var heartRateSum = 0.0
    public var heartRateCount = 0
    public var heartRateMax = 0.0

    public init(
        samples: Int = 0, distance: Double = 0, movingMillis: Int64 = 0, heartRateSum: Double = 0, heartRateCount: Int = 0,
        heartRateMax: Double = 0
    ) {
        self.samples = samples
        self.distance = distance
        self.movingMillis = movingMillis
        self.heartRateSum = heartRateSum
        self.heartRateCount = heartRateCount
        self.heartRateMax = heartRateMax
    }

    init(_ a: WindowAggregate) {
        self.init(
            samples: a.samples, distance: a.distance, movingMillis: a.movingMillis, heartRateSum: a.heartRateSum,
            heartRateCount: a.heartRateCount, heartRateMax: a.heartRateMax)
    }

    public var averageHeartRate: Double? { heartRateCount > 0 ? heartRateSum / Double(heartRateCount) : nil }
    public var maxHeartRate: Double? { heartRateCount > 0 ? heartRateMax : nil }

    public mutating func add(_ o: Rollup) {
        samples += o.samples
        distance += o.distance
        movingMillis += o.movingMillis
        heartRateSum += o.heartRateSum
        heartRateCount += o.heartRateCount
        heartRateMax = max(heartRateMax, o.heartRateMax)
    }
}

/// A user's minute rollup.
public struct MinuteRow: Sendable, Equatable {
    public var user: String
    public var start: Int64
    public var rollup: Rollup
    public init(user: String, start: Int64, rollup: Rollup) {
        self.user = user
        self.start = start
        self.rollup = rollup
    }
}

/// What the history adds to storage at one snapshot: the raw samples since the previous one
/// (a chunk per user) and the minutes that changed. Generations number batches, so a store
/// writes each once however often it is handed one.
public struct HistoryBatch: Sendable {
    public var generation: Int64
    public var chunks: [(user: String, chunk: SampleChunk)] = []
    public var minutes: [MinuteRow] = []

    public var isEmpty: Bool { chunks.isEmpty && minutes.isEmpty }
    public var byteCount: Int { chunks.reduce(0) { $0 + $1.chunk.bytes.count } + minutes.count * 64 }
}

/// What the history holds in memory for a user that storage may not have committed, in
/// pieces by batch generation: a read of storage at generation `g` adds the pieces after `g`.
public struct HistoryOverlay: Sendable {
    public struct Piece: Sendable {
        /// The batch's generation; `Int64.max` for what is not sealed yet.
        public var generation: Int64
        /// Raw samples, in arrival order.
        public var samples: [TelemetrySample] = []
        /// Minute rollups by start; each replaces what storage has for that minute.
        public var minutes: [Int64: Rollup] = [:]
    }

    public var pieces: [Piece] = []

    /// The samples and minutes beyond a storage read at `generation`, newest piece winning.
    public func after(_ generation: Int64) -> (samples: [TelemetrySample], minutes: [Int64: Rollup]) {
        var samples: [TelemetrySample] = []
        var minutes: [Int64: Rollup] = [:]
        for piece in pieces where piece.generation > generation {
            samples += piece.samples
            minutes.merge(piece.minutes) { _, new in new }
        }
        return (samples, minutes)
    }
}

/// The telemetry history of the User subsystem, as a pure state machine: raw samples kept
/// compactly per user until the next snapshot writes them, and minute rollups that are the
/// windows of a one-minute window operator (so they follow the contract's counter rule and sum
/// to the pipelines' windows by construction) — a pipeline's own, when one has exactly the
/// history's window spec (``record(_:windows:now:)``), else the recorder's.
///
/// Exactly once: a batch is sealed at a snapshot and saved in the same transaction as the
/// snapshot that no longer holds its samples; the journal replays only what follows.
public struct HistoryRecorder: Sendable {
    public let settings: HistorySettings
    /// The recorder's own minute operator; nil while a pipeline's windows are the minutes.
    private var minutes: WindowOperator?
    private var buffers: [String: SampleChunkBuilder] = [:]
    private var changedMinutes: [String: [Int64: Rollup]] = [:]
    /// Sealed batches not yet known to be committed, oldest first.
    private var sealed: [HistoryBatch] = []
    /// The generation the next sealed batch gets.
    public private(set) var nextGeneration: Int64 = 1
    /// Samples dropped because storage refused sealed batches beyond ``sealedLimit``.
    public private(set) var droppedSamples = 0
    /// Raw sample bytes held in sealed, uncommitted batches before the oldest are dropped.
    public var sealedLimit = 256 << 20

    /// - Parameter sharedMinutes: a pipeline with ``HistorySettings/spec`` provides the minutes.
    public init(settings: HistorySettings, sharedMinutes: Bool = false) {
        self.settings = settings
        minutes = sharedMinutes ? nil : WindowOperator(spec: settings.spec)
    }

    /// Whether the minutes come from a pipeline's windows.
    public var sharesMinutes: Bool { minutes == nil }

    /// Switches where the minutes come from (a reload added or removed the matching pipeline);
    /// a new own operator starts empty.
    public mutating func shareMinutes(_ shared: Bool) {
        if shared {
            minutes = nil
        } else if minutes == nil {
            minutes = WindowOperator(spec: settings.spec)
        }
    }

    /// Bytes of raw samples held in memory.
    public var bufferedBytes: Int {
        buffers.values.reduce(0) { $0 + $1.byteCount } + sealed.reduce(0) { $0 + $1.byteCount }
    }

    /// Records a batch of accepted telemetry that arrived at `now` (nil: replayed after a
    /// restart): every sample updates its minute; those the minute operator accepts (not
    /// late, not repeated) and that are inside the raw retention join their user's raw
    /// buffer. The minutes of users idle at `now` close. An empty batch is a clock tick.
    public mutating func record(_ samples: [TelemetrySample], now: Int64?) {
        guard minutes != nil else { return }
        let output = minutes!.process(samples, now: now)
        record(samples, windows: output, now: now)
    }

    /// Records a batch with the output of a pipeline's one-minute operator (the same spec) for
    /// it: its results are the minutes, its refusals the samples not kept.
    public mutating func record(_ samples: [TelemetrySample], windows output: WindowOutput, now: Int64?) {
        let rawFloor = settings.samplesFor.flatMap { retention in now.map { $0 - retention } } ?? .min
        var refused = output.refused.makeIterator()
        var nextRefused = refused.next()
        for (index, sample) in samples.enumerated() {
            if index == nextRefused {
                nextRefused = refused.next()
                continue
            }
            guard sample.ts >= rawFloor else { continue }
            buffers[sample.user, default: SampleChunkBuilder()].append(sample)
        }
        for result in output.results {
            changedMinutes[result.user, default: [:]][result.start] = Rollup(result.aggregate)
        }
    }

    /// Seals what arrived since the last seal into a batch (kept until ``confirm(through:)``),
    /// and returns every batch not yet confirmed, oldest first.
    public mutating func seal(now: Int64) -> [HistoryBatch] {
        var batch = HistoryBatch(generation: nextGeneration)
        for user in buffers.keys.sorted() {
            if let chunk = buffers[user]!.build() { batch.chunks.append((user, chunk)) }
        }
        let minuteFloor = settings.minutesFor.map { now - $0 } ?? .min
        for user in changedMinutes.keys.sorted() {
            for (start, rollup) in changedMinutes[user]!.sorted(by: { $0.key < $1.key }) where start >= minuteFloor {
                batch.minutes.append(MinuteRow(user: user, start: start, rollup: rollup))
            }
        }
        buffers = [:]
        changedMinutes = [:]
        if !batch.isEmpty {
            sealed.append(batch)
            nextGeneration += 1
        }
        var held = sealed.reduce(0) { $0 + $1.byteCount }
        while held > sealedLimit, sealed.count > 1 {
            let dropped = sealed.removeFirst()
            held -= dropped.byteCount
            droppedSamples += dropped.chunks.reduce(0) { $0 + $1.chunk.count }
        }
        return sealed
    }

    /// Storage committed every batch up to `generation`: they need not be held any more.
    public mutating func confirm(through generation: Int64) {
        sealed.removeAll { $0.generation <= generation }
    }

    /// What `user` has in memory that storage may not have committed: sealed batches, the
    /// open buffer, changed minutes and the minutes still open (the current minute counts
    /// what has arrived). Take it *before* reading storage: a batch missing here was
    /// confirmed, so committed, before that read.
    /// - Parameter open: the open minutes of the pipeline providing them (with shared minutes).
    public func overlay(of user: String, open openWindows: [WindowResult] = []) -> HistoryOverlay {
        var overlay = HistoryOverlay()
        for batch in sealed {
            var piece = HistoryOverlay.Piece(generation: batch.generation)
            for (u, chunk) in batch.chunks where u == user {
                if let samples = try? chunk.samples(user: user) { piece.samples += samples }
            }
            for row in batch.minutes where row.user == user { piece.minutes[row.start] = row.rollup }
            overlay.pieces.append(piece)
        }
        var open = HistoryOverlay.Piece(generation: .max)
        if let chunk = buffers[user]?.build(), let samples = try? chunk.samples(user: user) { open.samples = samples }
        for (start, rollup) in changedMinutes[user] ?? [:] { open.minutes[start] = rollup }
        for window in minutes?.currentWindows(of: user) ?? openWindows { open.minutes[window.start] = Rollup(window.aggregate) }
        overlay.pieces.append(open)
        return overlay
    }

    // MARK: Snapshot

    /// Format version of ``meta()``: 3 keeps the own minute operator's users as entries
    /// (``minuteEntry(of:)``); the whole-state versions 1 and 2 of ``snapshot()`` still restore.
    public static let metaVersion: Int64 = 3
    /// Format version of ``snapshot()``.
    public static let snapshotVersion: Int64 = 2

    /// The generation counter and whether the minutes are the recorder's own; their users are
    /// the entries of ``minuteEntry(of:)``. Raw buffers are not in it: it is taken right after
    /// ``seal(now:)``, and the sealed batches are saved with it.
    public func meta() -> [UInt8] { header(Self.metaVersion) }

    /// The whole state in one part (the layout before entries), for tests and tools.
    public func snapshot() -> [UInt8] { header(Self.snapshotVersion) + (minutes?.snapshot() ?? []) }

    /// What both layouts begin with: the version, the generation counter, whether the minutes are own.
    private func header(_ version: Int64) -> [UInt8] {
        var w = StateWriter()
        w.write(version)
        w.write(nextGeneration)
        w.write(minutes != nil)
        return w.bytes
    }

    /// The own minute operator's users changed since the last call (none with shared minutes).
    public mutating func takeChangedMinuteUsers() -> [String] { minutes?.takeChangedUsers() ?? [] }

    /// A user's entry of the own minute operator; nil when it keeps nothing for them.
    public func minuteEntry(of user: String) -> [UInt8]? { minutes?.entry(of: user) }

    /// Every user's entry of the own minute operator.
    public func minuteEntries() -> [(key: String, entry: [UInt8])] { minutes?.entries() ?? [] }

    /// Restores a ``meta()`` with the minute operator's `entries`, or a whole-state
    /// ``snapshot()`` of an earlier version; where the minutes come from is decided now
    /// (`sharedMinutes`): an operator saved when they were the recorder's own is kept only while
    /// they still are.
    public init(
        settings: HistorySettings, sharedMinutes: Bool = false, snapshot bytes: [UInt8],
        minuteEntries: some Sequence<(key: String, entry: [UInt8])> = [(key: String, entry: [UInt8])]()
    ) throws {
        self.init(settings: settings, sharedMinutes: sharedMinutes)
        var r = StateReader(bytes)
        let version = try r.readInt64()
        guard (1...Self.metaVersion).contains(version) else { throw StateReader.Corrupt(offset: 0) }
        nextGeneration = try r.readInt64()
        let hasOperator = version == 1 ? true : try r.readBool()
        if version == Self.metaVersion {
            guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
            if hasOperator && !sharedMinutes { minutes = try WindowOperator(spec: settings.spec, entries: minuteEntries) }
            return
        }
        guard hasOperator else {
            guard r.isAtEnd else { throw StateReader.Corrupt(offset: r.offset) }
            return
        }
        let saved = try WindowOperator(spec: settings.spec, snapshot: Array(bytes.dropFirst(version == 1 ? 16 : 17)))
        if !sharedMinutes { minutes = saved }
    }

    /// Whether `bytes` is a ``meta()`` (its operator's users are entries).
    public static func isMeta(_ bytes: [UInt8]) -> Bool {
        var r = StateReader(bytes)
        return (try? r.readInt64()) == metaVersion
    }
}

extension Rollup {
    /// Sums minute rollups into UTC days.
    public static func days(of minutes: [Int64: Rollup]) -> [Int64: Rollup] {
        var days: [Int64: Rollup] = [:]
        for (start, rollup) in minutes {
            days[HistorySettings.dayStart(start), default: Rollup()].add(rollup)
        }
        return days
    }
}

/// The resolutions of the `history` op.
public enum HistoryResolution: String, Sendable, CaseIterable {
    case sample, minute, day
}
