import ClubKernel
import Events
import Foundation
import JSON

/// Finds users who ran together, while the telemetry streams: their positions stay within
/// `community.together_m` of each other for more than half of the shorter session's elapsed
/// time, with at least 10 minutes overlapping (the contract's `community.ran_together`).
///
/// A spatial–temporal join, never of all pairs: each session's track is cut into short time
/// slots (``slotMillis``); the first position of a track in a slot goes into a grid cell of that
/// slot (cells larger than the distance, so the 3 × 3 cells around a position hold everyone who can
/// be near it), and is compared with the positions already there. Positions are compared only at
/// the same time, so the same route run minutes apart is not together; a pair of tracks is kept
/// only once its members have been near each other. Slots are kept for `together_lateness` of
/// the daemon's clock after their last position arrived, so telemetry that arrives late by up to
/// that much still meets its partners.
///
/// A track ends when nothing of it has arrived for `together_idle` (the daemon's clock); the pairs
/// of ended tracks are decided then, and the users of each connected group of pairs that ran
/// together make one event (three runners together: one event with three users). Its id follows
/// from the users and the start, so a replay raises a duplicate.
public struct TogetherDetector: Codable, Sendable {
    /// One session of a user's device.
    struct Track: Codable, Sendable {
        var key: TrackKey
        var user: String { key.user }
        var first: Int64
        var last: Int64
        var lastSlot: Int64 = .min
        var lastLatitude: Double
        var lastLongitude: Double
        var touchedAt: Int64
    }

    struct TrackKey: Hashable, Codable, Sendable {
        var user: String
        var device: String
        var session: String
    }

    struct Pair: Hashable, Codable, Sendable {
        var a: Int
        var b: Int
        init(_ x: Int, _ y: Int) {
            a = min(x, y)
            b = max(x, y)
        }
    }

    struct PairStats: Codable, Sendable {
        var slots = 0
        var firstSlot: Int64 = .max
        var lastSlot: Int64 = .min
        /// Distance the tracks covered while near each other.
        var distance = 0.0

        /// Counts a slot the tracks were near in. - Returns: whether it is their first.
        mutating func add(slot: Int64, step: Double) -> Bool {
            slots += 1
            if slot < firstSlot { firstSlot = slot }
            if slot > lastSlot { lastSlot = slot }
            distance += step
            return slots == 1
        }
    }

    struct Cell: Hashable, Sendable {
        var row: Int32
        var column: Int32
    }

    struct Position: Sendable {
        var track: Int
        var latitude: Double
        var longitude: Double
    }

    /// A slot's cells that hold positions, and when the slot last took one.
    struct Slot: Sendable {
        var cells: [UInt64] = []
        var touchedAt: Int64 = 0
    }

    public static let slotMillis: Int64 = 5_000
    /// Grid cells of about this many metres (at least the together distance).
    public static let cellMeters = 250.0

    /// Only tracks and pairs are snapshotted: the lookups by user, the free ids and the partners
    /// follow from them, and positions wait `together_lateness` for partners — the telemetry
    /// after a restart brings new ones.
    private enum CodingKeys: String, CodingKey {
        case tracks, pairs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tracks = try c.decode([Track?].self, forKey: .tracks)
        pairs = try c.decode([Pair: PairStats].self, forKey: .pairs)
        for (id, track) in tracks.enumerated() {
            if let track { keys[track.user, default: []].append(id) } else { free.append(id) }
        }
        for pair in pairs.keys {
            partners[pair.a, default: []].insert(pair.b)
            partners[pair.b, default: []].insert(pair.a)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tracks, forKey: .tracks)
        try c.encode(pairs, forKey: .pairs)
    }

    /// Each user's tracks (usually one): one string hashed per sample, the device and session
    /// compared.
    private var keys: [String: [Int]] = [:]
    /// Tracks by id (an index), nil where one ended; `free` lists those indices.
    private var tracks: [Track?] = []
    private var free: [Int] = []
    /// Positions by slot and cell in one flat table (``cellKey(slot:_:)``), and each slot's cells.
    private var positions: [UInt64: [Position]] = [:]
    private var slots: [Int64: Slot] = [:]
    private var pairs: [Pair: PairStats] = [:]
    /// Pairs by track, to find a track's pairs when it ends.
    private var partners: [Int: Set<Int>] = [:]

    public init() {}

    /// Tracks being followed.
    public var trackCount: Int { tracks.count - free.count }
    /// Pairs of tracks that came near each other.
    public var pairCount: Int { pairs.count }
    /// Positions held in slots.
    public var positionCount: Int { positions.values.reduce(0) { $0 + $1.count } }

    /// One key for a slot's cell: 24 bits of the slot (slots older than the lateness are gone
    /// long before they wrap, after 2.6 years), 20 of the row and 20 of the column.
    @inline(__always)
    static func cellKey(slot: Int64, _ cell: Cell) -> UInt64 {
        (UInt64(truncatingIfNeeded: slot) & 0xFF_FFFF) << 40 | (UInt64(UInt32(bitPattern: cell.row)) & 0xF_FFFF) << 20
            | (UInt64(UInt32(bitPattern: cell.column)) & 0xF_FFFF)
    }

    private static func cell(_ latitude: Double, _ longitude: Double) -> Cell {
        let size = cellMeters / Geo.metresPerDegree
        let row = Int32((latitude / size).rounded(.down))
        // Columns narrow towards the poles; the row's latitude sets their width.
        let width = size / max(0.05, cos((Double(row) + 0.5) * size * .pi / 180))
        return Cell(row: row, column: Int32((longitude / width).rounded(.down)))
    }

    /// Takes samples with a position; others cost one check.
    public mutating func observe(_ samples: [TelemetrySample], config: CommunityConfig, now: Int64) {
        for s in samples {
            guard let lat = s.latitude, let lon = s.longitude else { continue }
            let id: Int
            if let known = keys[s.user]?.first(where: { tracks[$0]!.key.device == s.device && tracks[$0]!.key.session == s.session }) {
                id = known
            } else {
                let track = Track(
                    key: TrackKey(user: s.user, device: s.device, session: s.session), first: s.ts, last: s.ts, lastLatitude: lat,
                    lastLongitude: lon, touchedAt: now)
                if let reused = free.popLast() {
                    id = reused
                    tracks[id] = track
                } else {
                    id = tracks.count
                    tracks.append(track)
                }
                keys[s.user, default: []].append(id)
            }
            let slot = s.ts / Self.slotMillis
            // In place: a track taken out and put back costs its strings' reference counts.
            tracks[id]!.touchedAt = now
            if s.ts < tracks[id]!.first { tracks[id]!.first = s.ts }
            if s.ts > tracks[id]!.last { tracks[id]!.last = s.ts }
            // The first position of a track in a slot stands for the slot.
            let lastSlot = tracks[id]!.lastSlot
            guard slot != lastSlot else { continue }
            let step = lastSlot == .min ? 0 : Geo.distance(tracks[id]!.lastLatitude, tracks[id]!.lastLongitude, lat, lon)
            if slot > lastSlot {
                tracks[id]!.lastSlot = slot
                tracks[id]!.lastLatitude = lat
                tracks[id]!.lastLongitude = lon
            }
            insert(Position(track: id, latitude: lat, longitude: lon), user: s.user, slot: slot, step: step, config: config, now: now)
        }
    }

    private mutating func insert(_ p: Position, user: String, slot: Int64, step: Double, config: CommunityConfig, now: Int64) {
        let home = Self.cell(p.latitude, p.longitude)
        let homeKey = Self.cellKey(slot: slot, home)
        if slots[slot] != nil {
            if positions[homeKey]?.contains(where: { $0.track == p.track }) == true { return }  // a late copy of the slot
            let cosLatitude = cos(p.latitude * .pi / 180)
            let metres = config.togetherMeters
            for dr in Int32(-1)...1 {
                for dc in Int32(-1)...1 {
                    guard let near = positions[Self.cellKey(slot: slot, Cell(row: home.row + dr, column: home.column + dc))] else { continue }
                    for other in near {
                        guard other.track != p.track,
                            Geo.within(metres, p.latitude, p.longitude, other.latitude, other.longitude, cosLatitude: cosLatitude),
                            tracks[other.track]?.user != user
                        else { continue }
                        let pair = Pair(p.track, other.track)
                        // One lookup, in place; a new pair joins both tracks' partners.
                        if pairs[pair, default: PairStats()].add(slot: slot, step: step) {
                            partners[p.track, default: []].insert(other.track)
                            partners[other.track, default: []].insert(p.track)
                        }
                    }
                }
            }
        }
        // In place, one lookup each.
        var isNewCell = false
        positions[homeKey, default: { isNewCell = true; return [] }()].append(p)
        slots[slot, default: Slot()].touchedAt = now
        if isNewCell { slots[slot]!.cells.append(homeKey) }
    }

    /// Drops slots past the lateness and decides the tracks that ended: the
    /// `community.ran_together` events of the groups that ran together.
    /// - Parameter now: the daemon's clock — or, while telemetry waits to be processed (the loop
    ///   was held up), when the last of it arrived, so that a pause of the loop does not end
    ///   every track at once.
    public mutating func due(now reference: Int64, config: CommunityConfig) -> [ActivityEvent] {
        for (slot, info) in slots where reference - info.touchedAt >= config.togetherLatenessMillis {
            for key in info.cells { positions[key] = nil }
            slots[slot] = nil
        }
        var ended: Set<Int> = []
        for (id, track) in tracks.enumerated() where track.map({ reference - $0.touchedAt >= config.togetherIdleMillis }) == true {
            ended.insert(id)
        }
        guard !ended.isEmpty else { return [] }
        // Tracks connected through pairs decide together, once every one of them has ended.
        var seen: Set<Int> = []
        var raised: [ActivityEvent] = []
        var finished: Set<Int> = []
        for start in ended.sorted() where !seen.contains(start) {
            var component: [Int] = []
            var stack = [start]
            seen.insert(start)
            while let t = stack.popLast() {
                component.append(t)
                for next in partners[t] ?? [] where !seen.contains(next) {
                    seen.insert(next)
                    stack.append(next)
                }
            }
            guard component.allSatisfy(ended.contains) else { continue }
            raised += decide(component, config: config)
            finished.formUnion(component)
        }
        for t in finished {
            for other in partners[t] ?? [] { pairs[Pair(t, other)] = nil }
            partners[t] = nil
            if let track = tracks[t] {
                keys[track.user]?.removeAll { $0 == t }
                if keys[track.user]?.isEmpty == true { keys[track.user] = nil }
                tracks[t] = nil
                free.append(t)
            }
        }
        return raised.sorted { $0.id < $1.id }
    }

    /// The groups of `component`'s tracks that ran together (pairs meeting the condition,
    /// joined when they share a track).
    private func decide(_ component: [Int], config: CommunityConfig) -> [ActivityEvent] {
        var together: [Int: Set<Int>] = [:]
        var qualifying: [(Pair, PairStats)] = []
        for t in component {
            for other in partners[t] ?? [] where t < other {
                let pair = Pair(t, other)
                guard let stats = pairs[pair], let a = tracks[t], let b = tracks[other] else { continue }
                let overlap = min(a.last, b.last) - max(a.first, b.first)
                let shorter = min(a.last - a.first, b.last - b.first)
                let near = Int64(stats.slots) * Self.slotMillis
                guard overlap >= config.togetherMinimumMillis, near * 2 > shorter else { continue }
                together[t, default: []].insert(other)
                together[other, default: []].insert(t)
                qualifying.append((pair, stats))
            }
        }
        var seen: Set<Int> = []
        var events: [ActivityEvent] = []
        for start in together.keys.sorted() where !seen.contains(start) {
            var group: Set<Int> = [start]
            var stack = [start]
            seen.insert(start)
            while let t = stack.popLast() {
                for next in together[t] ?? [] where !seen.contains(next) {
                    seen.insert(next)
                    group.insert(next)
                    stack.append(next)
                }
            }
            let members = qualifying.filter { group.contains($0.0.a) }
            let users = Set(group.compactMap { tracks[$0]?.user }).sorted()
            guard users.count >= 2 else { continue }
            let startAt = members.map { $0.1.firstSlot }.min()! * Self.slotMillis
            let endAt = (members.map { $0.1.lastSlot }.max()! + 1) * Self.slotMillis
            let distance = members.map { $0.1.distance }.max() ?? 0
            var w = JSONWriter()
            w.member("user", users[0])
            w.member("users", users)
            w.member("start", Int(startAt))
            w.member("end", Int(endAt))
            w.member("overlap_s", Int((endAt - startAt) / 1000))
            w.member("distance_m", (distance * 10).rounded() / 10)
            let id = "together:\(users.joined(separator: ",")):\(startAt / 60_000)"
            events.append(.raised("community.ran_together", id: String(id.prefix(128)), user: users[0], at: endAt, members: w.bytes))
        }
        return events
    }
}
