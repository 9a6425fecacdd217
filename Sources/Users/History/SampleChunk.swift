import Events

/// Raw telemetry samples of one user, encoded compactly for the history: the unit the store
/// keeps and retention drops. A chunk holds the samples a user sent between two snapshots, in
/// arrival order.
///
/// Layout (version 2): `version`, the string table (device, session and sport names, each once),
/// then per sample a zig-zag varint of its time minus the previous sample's, a varint header (the
/// bit set of the optional fields present, whether device, session and sport are the previous
/// sample's, whether every number is a scaled integer), unless repeated the varint indices of
/// device, session and sport, unless all scaled the bit set of those that are, then each present
/// number: a zig-zag
/// varint of its scaled value (metres and m/s to the thousandth, degrees to 1e-7, heart rate,
/// cadence and power to the hundredth) minus the same field's previous one — when that scaling
/// gives the very same double back — else its 8-byte IEEE double. Lossless; a sample with
/// distance, heart rate, speed and a position takes about 12 bytes (its JSON: about 200).
/// Version 1 (every number as a double) still decodes.
public struct SampleChunk: Sendable, Equatable {
    public var firstTs: Int64
    public var lastTs: Int64
    public var count: Int
    public var bytes: [UInt8]

    public static let version: UInt8 = 2

    public init(firstTs: Int64, lastTs: Int64, count: Int, bytes: [UInt8]) {
        self.firstTs = firstTs
        self.lastTs = lastTs
        self.count = count
        self.bytes = bytes
    }

    /// Why bytes do not decode as a chunk (a damaged row is skipped and counted, never trusted).
    public struct Corrupt: Error, CustomStringConvertible {
        public let description: String
    }

    /// Decodes every sample of the chunk, for `user`.
    public func samples(user: String) throws(Corrupt) -> [TelemetrySample] { try Self.samples(in: bytes, user: user) }

    /// Decodes every sample of a chunk's bytes, for `user`.
    public static func samples(in bytes: [UInt8], user: String) throws(Corrupt) -> [TelemetrySample] {
        var r = Reader(bytes: bytes)
        let version = try r.byte()
        guard version == 1 || version == Self.version else { throw Corrupt(description: "unknown chunk version \(version)") }
        let strings = try (0..<r.count(max: 1 << 20)).map { _ throws(Corrupt) in try r.string() }
        func name(_ index: Int) throws(Corrupt) -> String {
            guard index < strings.count else { throw Corrupt(description: "string index \(index) out of range") }
            return strings[index]
        }
        let n = try r.count(max: 1 << 24)
        var out: [TelemetrySample] = []
        out.reserveCapacity(n)
        var ts: Int64 = 0
        var previous = [Int64](repeating: 0, count: Field.allCases.count)
        let fields = 1 << Field.allCases.count
        var names: (device: String, session: String, sport: String?)?
        for _ in 0..<n {
            ts &+= try r.signed()
            let present: Int
            let scaled: Int
            if version == 1 {
                names = (try name(try r.count(max: .max)), try name(try r.count(max: .max)), nil)
                present = try r.count(max: fields)
                scaled = 0
                if present & Field.sport.bit != 0 { names!.sport = try name(try r.count(max: .max)) }
            } else {
                let header = try r.count(max: fields << 2)
                present = header >> 2
                if header & 2 == 0 {
                    names = (try name(try r.count(max: .max)), try name(try r.count(max: .max)), nil)
                    if present & Field.sport.bit != 0 { names!.sport = try name(try r.count(max: .max)) }
                } else if names == nil || (names!.sport != nil) != (present & Field.sport.bit != 0) {
                    throw Corrupt(description: "a sample repeats names it has no predecessor for")
                }
                scaled = header & 1 != 0 ? present : try r.count(max: fields)
            }
            var s = TelemetrySample(user: user, device: names!.device, session: names!.session, ts: ts, sport: names!.sport)
            for field in Field.numbers where present & field.bit != 0 {
                if scaled & field.bit != 0 {
                    previous[field.rawValue] &+= try r.signed()
                    field.set(&s, Double(previous[field.rawValue]) / field.scale)
                } else {
                    field.set(&s, try r.double())
                }
            }
            out.append(s)
        }
        guard r.atEnd else { throw Corrupt(description: "\(bytes.count - r.position) bytes after the last sample") }
        return out
    }

    /// The optional fields of a sample, by bit.
    enum Field: Int, CaseIterable {
        case sport, distance, heartRate, speed, cadence, power, latitude, longitude, altitude

        var bit: Int { 1 << rawValue }
        static let numbers: [Field] = [.distance, .heartRate, .speed, .cadence, .power, .latitude, .longitude, .altitude]

        /// The factor a value is scaled by to become an integer, when that is exact.
        var scale: Double {
            switch self {
            case .sport: 1
            case .distance, .speed, .altitude: 1e3
            case .heartRate, .cadence, .power: 1e2
            case .latitude, .longitude: 1e7
            }
        }

        /// The value as a scaled integer, when dividing it back gives the same double.
        func scaled(_ v: Double) -> Int64? {
            guard v != 0 || v.sign == .plus else { return nil }  // -0.0 keeps its sign as a double
            let q = (v * scale).rounded()
            guard abs(q) < 9e15 else { return nil }
            return (q / scale).bitPattern == v.bitPattern ? Int64(q) : nil
        }

        func get(_ s: TelemetrySample) -> Double? {
            switch self {
            case .sport: nil
            case .distance: s.distance
            case .heartRate: s.heartRate
            case .speed: s.speed
            case .cadence: s.cadence
            case .power: s.power
            case .latitude: s.latitude
            case .longitude: s.longitude
            case .altitude: s.altitude
            }
        }

        func set(_ s: inout TelemetrySample, _ v: Double) {
            switch self {
            case .sport: break
            case .distance: s.distance = v
            case .heartRate: s.heartRate = v
            case .speed: s.speed = v
            case .cadence: s.cadence = v
            case .power: s.power = v
            case .latitude: s.latitude = v
            case .longitude: s.longitude = v
            case .altitude: s.altitude = v
            }
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var position = 0
        var atEnd: Bool { position == bytes.count }

        mutating func byte() throws(Corrupt) -> UInt8 {
            guard position < bytes.count else { throw Corrupt(description: "truncated at byte \(position)") }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func unsigned() throws(Corrupt) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw Corrupt(description: "varint too long at byte \(position)") }
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
        }

        mutating func signed() throws(Corrupt) -> Int64 {
            let u = try unsigned()
            return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
        }

        mutating func count(max: Int) throws(Corrupt) -> Int {
            let u = try unsigned()
            guard u <= UInt64(max) else { throw Corrupt(description: "count \(u) too large at byte \(position)") }
            return Int(u)
        }

        mutating func double() throws(Corrupt) -> Double {
            guard position + 8 <= bytes.count else { throw Corrupt(description: "truncated number at byte \(position)") }
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
            position += 8
            return Double(bitPattern: bits)
        }

        mutating func string() throws(Corrupt) -> String {
            let n = try count(max: 1 << 16)
            guard position + n <= bytes.count else { throw Corrupt(description: "truncated string at byte \(position)") }
            defer { position += n }
            return String(decoding: bytes[position..<position + n], as: UTF8.self)
        }
    }
}

/// Builds one user's chunk as samples arrive: the samples are encoded at once (the buffer holds
/// bytes, not sample values), the string table at the end.
public struct SampleChunkBuilder: Sendable {
    private var strings: [String] = []
    private var index: [String: Int] = [:]
    private var body: [UInt8] = []
    private var previousTs: Int64 = 0
    /// Per field, the previous scaled value (the base of the next delta).
    private var previous = [Int64](repeating: 0, count: SampleChunk.Field.allCases.count)
    /// The previous sample's device, session and sport indices (sport -1: none).
    private var previousNames: (device: Int, session: Int, sport: Int)?
    public private(set) var count = 0
    public private(set) var firstTs = Int64.max
    public private(set) var lastTs = Int64.min

    public init() {}

    /// Bytes held, for the memory gauge.
    public var byteCount: Int { body.count + strings.reduce(0) { $0 + $1.utf8.count + 24 } }

    public mutating func append(_ s: TelemetrySample) {
        Self.writeSigned(s.ts &- previousTs, to: &body)
        previousTs = s.ts
        // Mostly the previous sample's: compared before hashing.
        let names: (device: Int, session: Int, sport: Int)
        if let p = previousNames, strings[p.device] == s.device, strings[p.session] == s.session,
            s.sport == (p.sport < 0 ? nil : strings[p.sport])
        {
            names = p
        } else {
            names = (intern(s.device), intern(s.session), s.sport.map { intern($0) } ?? -1)
        }
        let sameNames = previousNames.map { $0 == names } ?? false
        previousNames = names
        var present = s.sport == nil ? 0 : SampleChunk.Field.sport.bit
        var scaled = 0
        var values: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &values) { raw in
            let q = raw.bindMemory(to: Int64.self)
            for (i, field) in SampleChunk.Field.numbers.enumerated() {
                guard let v = field.get(s) else { continue }
                present |= field.bit
                if let n = field.scaled(v) {
                    scaled |= field.bit
                    q[i] = n
                }
            }
        }
        let allScaled = scaled == present & ~SampleChunk.Field.sport.bit
        Self.writeUnsigned(UInt64(present << 2 | (sameNames ? 2 : 0) | (allScaled ? 1 : 0)), to: &body)
        if !sameNames {
            Self.writeUnsigned(UInt64(names.device), to: &body)
            Self.writeUnsigned(UInt64(names.session), to: &body)
            if names.sport >= 0 { Self.writeUnsigned(UInt64(names.sport), to: &body) }
        }
        if !allScaled { Self.writeUnsigned(UInt64(scaled), to: &body) }
        withUnsafeBytes(of: &values) { raw in
            let q = raw.bindMemory(to: Int64.self)
            for (i, field) in SampleChunk.Field.numbers.enumerated() where present & field.bit != 0 {
                if scaled & field.bit != 0 {
                    Self.writeSigned(q[i] &- previous[field.rawValue], to: &body)
                    previous[field.rawValue] = q[i]
                } else {
                    withUnsafeBytes(of: field.get(s)!.bitPattern.littleEndian) { body.append(contentsOf: $0) }
                }
            }
        }
        count += 1
        firstTs = min(firstTs, s.ts)
        lastTs = max(lastTs, s.ts)
    }

    /// The chunk of everything appended (nil when nothing was).
    public func build() -> SampleChunk? {
        guard count > 0 else { return nil }
        var bytes: [UInt8] = [SampleChunk.version]
        bytes.reserveCapacity(body.count + 16 + strings.count * 16)
        Self.writeUnsigned(UInt64(strings.count), to: &bytes)
        for s in strings {
            Self.writeUnsigned(UInt64(s.utf8.count), to: &bytes)
            bytes.append(contentsOf: s.utf8)
        }
        Self.writeUnsigned(UInt64(count), to: &bytes)
        bytes += body
        return SampleChunk(firstTs: firstTs, lastTs: lastTs, count: count, bytes: bytes)
    }

    private mutating func intern(_ s: String) -> Int {
        if let i = index[s] { return i }
        strings.append(s)
        index[s] = strings.count - 1
        return strings.count - 1
    }

    static func writeUnsigned(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func writeSigned(_ v: Int64, to out: inout [UInt8]) {
        writeUnsigned(UInt64(bitPattern: (v << 1) ^ (v >> 63)), to: &out)
    }
}
