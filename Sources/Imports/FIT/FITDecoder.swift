/// Decodes Garmin FIT activity files (the FIT protocol: a header, definition and data messages
/// with local message types, compressed-timestamp headers, developer fields, CRC-16 checks; see
/// docs/imports.md). Only the messages a workout needs are decoded — file_id, session, lap and
/// record, with scale and offset applied — every other message is skipped by its defined size.
/// Pure Swift and allocation-light: about one array append per record.
public struct FITDecoder {
    /// Files larger than this are refused before decoding.
    public static let maxFileBytes = 64 << 20

    /// Decodes a whole file (chained FIT files included).
    /// - Throws: ``ImportError`` naming the byte where decoding failed.
    public static func decode(_ bytes: [UInt8]) throws(ImportError) -> FITActivity {
        guard bytes.count <= maxFileBytes else {
            throw ImportError("file_too_large", "the file has \(bytes.count) bytes; at most \(maxFileBytes) are accepted")
        }
        var activity = FITActivity()
        try bytes.withUnsafeBufferPointer { buffer throws(ImportError) in
            var start = 0
            repeat {
                var reader = FITReader(bytes: buffer, start: start)
                start = try reader.readFile(into: &activity)
            } while start < buffer.count
        }
        return activity
    }
}

/// The messages of a FIT file that describe a workout.
public struct FITActivity: Sendable, Equatable {
    /// file_id.type: 4 is an activity.
    public var fileType: Int?
    public var manufacturer: Int?
    public var product: Int?
    public var serialNumber: UInt32?
    /// file_id.time_created, epoch milliseconds.
    public var timeCreated: Int64?
    public var sessions: [FITSession] = []
    public var laps = 0
    /// The record messages: one sample each.
    public var records: [TrackPoint] = []

    public init() {}
}

/// A session message: the device's own totals for one sport of the activity.
public struct FITSession: Sendable, Equatable {
    /// Epoch milliseconds.
    public var start: Int64?
    public var end: Int64?
    /// Seconds.
    public var elapsed: Double?
    public var timer: Double?
    /// Metres.
    public var distance: Double?
    public var sport: Int?
    public var averageHeartRate: Double?
    public var maxHeartRate: Double?
    /// Metres.
    public var ascent: Double?
}

extension FITSession {
    /// FIT's `sport` enum as the club names sports.
    public var sportName: String {
        switch sport {
        case 1: return "run"
        case 2: return "ride"
        case 5: return "swim"
        case 11: return "walk"
        case 17: return "hike"
        case 4: return "fitness"
        case 10: return "training"
        case 12: return "ski"
        case 15: return "row"
        default: return "other"
        }
    }
}

/// Reads one FIT file of a buffer, message by message.
struct FITReader {
    /// Seconds between the Unix epoch and FIT's (1989-12-31T00:00:00Z).
    static let epochOffset: Int64 = 631_065_600

    private let bytes: UnsafeBufferPointer<UInt8>
    private let start: Int
    private var position: Int
    private var definitions = [Definition?](repeating: nil, count: 16)
    private var lastTimestamp: UInt32 = 0

    /// A definition message: how to read data messages of one local type.
    struct Definition {
        var global: UInt16
        var bigEndian: Bool
        var fields: [Field]
        /// Bytes of developer fields after the fields, skipped.
        var developerBytes: Int
        var size: Int
    }

    struct Field {
        var number: UInt8
        var size: Int
        var baseType: UInt8
    }

    init(bytes: UnsafeBufferPointer<UInt8>, start: Int) {
        self.bytes = bytes
        self.start = start
        position = start
    }

    /// Reads the file starting at `start`; returns where the next chained file would start.
    mutating func readFile(into activity: inout FITActivity) throws(ImportError) -> Int {
        guard bytes.count - start >= 12 else { throw ImportError.truncated("the FIT header", at: bytes.count) }
        let headerSize = Int(bytes[start])
        guard headerSize == 12 || headerSize == 14, bytes.count - start >= headerSize else {
            throw ImportError("fit_corrupt", "invalid FIT header size \(headerSize) at byte \(start)")
        }
        guard bytes[start + 8] == 0x2E, bytes[start + 9] == 0x46, bytes[start + 10] == 0x49, bytes[start + 11] == 0x54 else {
            throw ImportError("not_fit", "no '.FIT' signature at byte \(start + 8): not a FIT file")
        }
        let dataSize = Int(UInt32(bytes[start + 4]) | UInt32(bytes[start + 5]) << 8 | UInt32(bytes[start + 6]) << 16 | UInt32(bytes[start + 7]) << 24)
        if headerSize == 14 {
            let stored = UInt16(bytes[start + 12]) | UInt16(bytes[start + 13]) << 8
            if stored != 0, stored != FITCRC.compute(bytes, from: start, to: start + 12) {
                throw ImportError("crc_mismatch", "the FIT header's CRC does not match at byte \(start + 12)")
            }
        }
        let end = start + headerSize + dataSize
        guard end + 2 <= bytes.count else {
            throw ImportError.truncated("the FIT data (the header announces \(dataSize) bytes)", at: bytes.count)
        }
        let stored = UInt16(bytes[end]) | UInt16(bytes[end + 1]) << 8
        guard stored == FITCRC.compute(bytes, from: start, to: end) else {
            throw ImportError("crc_mismatch", "the FIT file's CRC does not match at byte \(end): the file is damaged")
        }
        position = start + headerSize
        while position < end { try readMessage(into: &activity, end: end) }
        return end + 2
    }

    private mutating func readMessage(into activity: inout FITActivity, end: Int) throws(ImportError) {
        let header = bytes[position]
        let at = position
        position += 1
        if header & 0x80 != 0 {
            // Compressed timestamp header: the local type and a 5-bit offset from the last timestamp.
            let offset = UInt32(header & 0x1F)
            var timestamp = (lastTimestamp & ~0x1F) | offset
            if offset < lastTimestamp & 0x1F { timestamp &+= 0x20 }
            lastTimestamp = timestamp
            try readData(local: Int((header >> 5) & 0x3), at: at, end: end, timestamp: timestamp, into: &activity)
        } else if header & 0x40 != 0 {
            try readDefinition(local: Int(header & 0x0F), developer: header & 0x20 != 0, end: end)
        } else {
            try readData(local: Int(header & 0x0F), at: at, end: end, timestamp: nil, into: &activity)
        }
    }

    private mutating func need(_ count: Int, _ what: String, end: Int) throws(ImportError) {
        guard position + count <= end else { throw ImportError.truncated(what, at: position) }
    }

    private mutating func readDefinition(local: Int, developer: Bool, end: Int) throws(ImportError) {
        try need(5, "a definition message", end: end)
        let bigEndian = bytes[position + 1] == 1
        let global = bigEndian
            ? UInt16(bytes[position + 2]) << 8 | UInt16(bytes[position + 3])
            : UInt16(bytes[position + 2]) | UInt16(bytes[position + 3]) << 8
        let count = Int(bytes[position + 4])
        position += 5
        try need(count * 3, "a definition message's fields", end: end)
        var fields: [Field] = []
        fields.reserveCapacity(count)
        var size = 0
        for _ in 0..<count {
            let field = Field(number: bytes[position], size: Int(bytes[position + 1]), baseType: bytes[position + 2])
            fields.append(field)
            size += field.size
            position += 3
        }
        var developerBytes = 0
        if developer {
            try need(1, "a definition message's developer fields", end: end)
            let developerCount = Int(bytes[position])
            position += 1
            try need(developerCount * 3, "a definition message's developer fields", end: end)
            for i in 0..<developerCount { developerBytes += Int(bytes[position + i * 3 + 1]) }
            position += developerCount * 3
        }
        definitions[local] = Definition(
            global: global, bigEndian: bigEndian, fields: fields, developerBytes: developerBytes, size: size + developerBytes)
    }

    private mutating func readData(local: Int, at: Int, end: Int, timestamp: UInt32?, into activity: inout FITActivity) throws(ImportError) {
        guard let definition = definitions[local] else {
            throw ImportError("fit_corrupt", "a data message at byte \(at) uses local message type \(local), which no definition precedes")
        }
        try need(definition.size, "a data message", end: end)
        let base = position
        position += definition.size
        switch definition.global {
        case 20: activity.records.append(record(definition, base: base, timestamp: timestamp))
        case 18: activity.sessions.append(session(definition, base: base, timestamp: timestamp))
        case 0: fileID(definition, base: base, into: &activity)
        default:
            if definition.global == 19 { activity.laps += 1 }
            readFields(definition, base: base) { _, _, _ in }  // for its timestamp
        }
    }

    /// Calls `body` with each field of a data message, its offset and a reader of its value,
    /// after noting the message's timestamp (field 253): the base of later compressed ones.
    private mutating func readFields(_ definition: Definition, base: Int, _ body: (Field, Int, FieldValues) -> Void) {
        let values = FieldValues(bytes: bytes, bigEndian: definition.bigEndian)
        var offset = base
        for field in definition.fields {
            if field.number == 253, let value = values.unsigned(field, at: offset) { lastTimestamp = UInt32(truncatingIfNeeded: value) }
            body(field, offset, values)
            offset += field.size
        }
    }

    private static func millis(_ fitSeconds: UInt64) -> Int64 { (Int64(fitSeconds) + epochOffset) * 1000 }

    private mutating func record(_ definition: Definition, base: Int, timestamp: UInt32?) -> TrackPoint {
        var r = TrackPoint()
        if let timestamp { r.time = Self.millis(UInt64(timestamp)) }
        readFields(definition, base: base) { field, offset, values in
            // Read only the fields used: records are the bulk of a file.
            var value: UInt64? { values.unsigned(field, at: offset) }
            switch field.number {
            case 253: r.time = value.map(Self.millis) ?? r.time
            case 0: r.latitude = values.signed(field, at: offset).map { Double($0) * 180 / 2_147_483_648 }
            case 1: r.longitude = values.signed(field, at: offset).map { Double($0) * 180 / 2_147_483_648 }
            case 2: if r.altitude == nil { r.altitude = value.map { Double($0) / 5 - 500 } }
            case 78: r.altitude = value.map { Double($0) / 5 - 500 } ?? r.altitude
            case 3: r.heartRate = value.map { Double($0) }
            case 4: r.cadence = value.map { Double($0) }
            case 5: r.distance = value.map { Double($0) / 100 }
            case 6: if r.speed == nil { r.speed = value.map { Double($0) / 1000 } }
            case 73: r.speed = value.map { Double($0) / 1000 } ?? r.speed
            case 7: r.power = value.map { Double($0) }
            default: break
            }
        }
        return r
    }

    private mutating func session(_ definition: Definition, base: Int, timestamp: UInt32?) -> FITSession {
        var s = FITSession()
        if let timestamp { s.end = Self.millis(UInt64(timestamp)) }
        readFields(definition, base: base) { field, offset, values in
            let value = values.unsigned(field, at: offset)
            switch field.number {
            case 253: s.end = value.map(Self.millis) ?? s.end
            case 2: s.start = value.map(Self.millis)
            case 7: s.elapsed = value.map { Double($0) / 1000 }
            case 8: s.timer = value.map { Double($0) / 1000 }
            case 9: s.distance = value.map { Double($0) / 100 }
            case 5: s.sport = value.map { Int($0) }
            case 16: s.averageHeartRate = value.map { Double($0) }
            case 17: s.maxHeartRate = value.map { Double($0) }
            case 22: s.ascent = value.map { Double($0) }
            default: break
            }
        }
        return s
    }

    private mutating func fileID(_ definition: Definition, base: Int, into activity: inout FITActivity) {
        readFields(definition, base: base) { field, offset, values in
            let value = values.unsigned(field, at: offset)
            switch field.number {
            case 0: activity.fileType = value.map { Int($0) }
            case 1: activity.manufacturer = value.map { Int($0) }
            case 2: activity.product = value.map { Int($0) }
            case 3: activity.serialNumber = value.map { UInt32(truncatingIfNeeded: $0) }
            case 4: activity.timeCreated = value.map(Self.millis)
            default: break
            }
        }
    }
}

/// Reads the values of a data message's fields, in the byte order of its definition.
struct FieldValues {
    let bytes: UnsafeBufferPointer<UInt8>
    let bigEndian: Bool

    /// The raw bits of a field's first element, or nil when it holds the type's invalid value.
    private func raw(_ field: FITReader.Field, at offset: Int) -> (bits: UInt64, width: Int)? {
        let width: Int
        switch field.baseType & 0x1F {
        case 0, 1, 2, 10, 13: width = 1
        case 3, 4, 11: width = 2
        case 5, 6, 8, 12: width = 4
        case 9, 14, 15, 16: width = 8
        default: return nil  // strings and unknown types: not read
        }
        guard field.size >= width else { return nil }
        var bits: UInt64 = 0
        for i in 0..<width {
            let byte = UInt64(bytes[offset + (bigEndian ? i : width - 1 - i)])
            bits = bits << 8 | byte
        }
        let invalid: UInt64
        switch field.baseType & 0x1F {
        case 1: invalid = 0x7F
        case 3: invalid = 0x7FFF
        case 5: invalid = 0x7FFF_FFFF
        case 14: invalid = 0x7FFF_FFFF_FFFF_FFFF
        case 10, 11, 12, 16: invalid = 0
        default: invalid = width == 8 ? .max : (1 << UInt64(width * 8)) - 1
        }
        return bits == invalid ? nil : (bits, width)
    }

    /// An integer field's value (nil when invalid, or for floats).
    func unsigned(_ field: FITReader.Field, at offset: Int) -> UInt64? {
        guard let (bits, _) = raw(field, at: offset), field.baseType & 0x1F != 8, field.baseType & 0x1F != 9 else { return nil }
        return bits
    }

    /// A signed integer field's value, sign-extended from its width.
    func signed(_ field: FITReader.Field, at offset: Int) -> Int64? {
        guard let (bits, width) = raw(field, at: offset) else { return nil }
        let shift = UInt64(64 - width * 8)
        return Int64(bitPattern: bits << shift) >> Int64(shift)
    }
}

/// FIT's CRC-16 (polynomial 0xA001, nibble table), over the header and the data.
enum FITCRC {
    private static let table: [UInt16] = [
        0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401, 0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
    ]

    static func compute(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> UInt16 {
        var crc: UInt16 = 0
        for i in start..<end {
            let byte = UInt16(bytes[i])
            var tmp = table[Int(crc & 0xF)]
            crc = (crc >> 4) & 0x0FFF
            crc = crc ^ tmp ^ table[Int(byte & 0xF)]
            tmp = table[Int(crc & 0xF)]
            crc = (crc >> 4) & 0x0FFF
            crc = crc ^ tmp ^ table[Int((byte >> 4) & 0xF)]
        }
        return crc
    }
}
