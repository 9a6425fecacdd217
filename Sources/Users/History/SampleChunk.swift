import Events

/// Raw telemetry samples of one user, encoded compactly for the history: the unit the store
/// keeps and retention drops. A chunk holds the samples a user sent between two snapshots, in
/// arrival order.
///
/// Layout (version 1): `version`, the string table (device, session and sport names, each once),
/// then per sample a zig-zag varint of its time minus the previous sample's, varint indices of
/// its device and session, a varint bit set of the optional fields present, a varint sport
/// index when present, and the present numbers as 8-byte IEEE doubles. A typical sample with
/// distance, heart rate, speed and position takes about 45 bytes (its JSON: about 200).
public struct SampleChunk: Sendable, Equatable {
    public var firstTs: Int64
    public var lastTs: Int64
    public var count: Int
    public var bytes: [UInt8]

    public static let version: UInt8 = 1

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
    public func samples(user: String) throws(Corrupt) -> [TelemetrySample] {
        var r = Reader(bytes: bytes)
        guard try r.byte() == Self.version else { throw Corrupt(description: "unknown chunk version") }
        let strings = try (0..<r.count(max: 1 << 20)).map { _ throws(Corrupt) in try r.string() }
        func name(_ index: Int) throws(Corrupt) -> String {
            guard index < strings.count else { throw Corrupt(description: "string index \(index) out of range") }
            return strings[index]
        }
        let n = try r.count(max: 1 << 24)
        var out: [TelemetrySample] = []
        out.reserveCapacity(n)
        var ts: Int64 = 0
        for _ in 0..<n {
            ts &+= try r.signed()
            var s = TelemetrySample(user: user, device: try name(try r.count(max: .max)), session: try name(try r.count(max: .max)), ts: ts)
            let present = try r.count(max: 1 << Field.allCases.count)
            if present & Field.sport.bit != 0 { s.sport = try name(try r.count(max: .max)) }
            for field in Field.numbers where present & field.bit != 0 { field.set(&s, try r.double()) }
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
    public private(set) var count = 0
    public private(set) var firstTs = Int64.max
    public private(set) var lastTs = Int64.min

    public init() {}

    /// Bytes held, for the memory gauge.
    public var byteCount: Int { body.count + strings.reduce(0) { $0 + $1.utf8.count + 24 } }

    public mutating func append(_ s: TelemetrySample) {
        Self.writeSigned(s.ts &- previousTs, to: &body)
        previousTs = s.ts
        Self.writeUnsigned(UInt64(intern(s.device)), to: &body)
        Self.writeUnsigned(UInt64(intern(s.session)), to: &body)
        var present = s.sport == nil ? 0 : SampleChunk.Field.sport.bit
        for field in SampleChunk.Field.numbers where field.get(s) != nil { present |= field.bit }
        Self.writeUnsigned(UInt64(present), to: &body)
        if let sport = s.sport { Self.writeUnsigned(UInt64(intern(sport)), to: &body) }
        for field in SampleChunk.Field.numbers {
            guard let v = field.get(s) else { continue }
            withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) }
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
