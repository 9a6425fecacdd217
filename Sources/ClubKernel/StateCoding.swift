/// A compact little-endian binary encoding for snapshots of operator state.
///
/// Snapshots of hundreds of thousands of points must take milliseconds, which rules out
/// Codable + JSON; the format is versioned by the snapshot's owner.
public struct StateWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    public mutating func write(_ v: Int) { write(Int64(v)) }
    public mutating func write(_ v: Double) { write(Int64(bitPattern: v.bitPattern)) }
    public mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func write(_ v: String) {
        write(v.utf8.count)
        bytes.append(contentsOf: v.utf8)
    }
    public mutating func write(_ v: Double?) {
        write(v != nil)
        if let v { write(v) }
    }
    public mutating func write(_ v: Int64?) {
        write(v != nil)
        if let v { write(v) }
    }
}

/// Reads what ``StateWriter`` wrote; a truncated or corrupt snapshot throws.
public struct StateReader {
    /// The snapshot ended early or holds an impossible value.
    public struct Corrupt: Error, CustomStringConvertible {
        public let offset: Int
        public var description: String { "snapshot is corrupt at byte \(offset)" }

        public init(offset: Int) { self.offset = offset }
    }

    let bytes: [UInt8]
    /// Where the next read starts.
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    /// A count just read, bounded by what the rest of the bytes can hold at `size` bytes (at
    /// least) per item: what to reserve, so that a damaged count never asks for gigabytes.
    public func plausible(_ count: Int, itemSize size: Int) -> Int { min(count, (bytes.count - offset) / max(size, 1)) }

    public mutating func readInt64() throws -> Int64 {
        guard offset + 8 <= bytes.count else { throw Corrupt(offset: offset) }
        var v: Int64 = 0
        withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: bytes[offset..<offset + 8]) }
        offset += 8
        return Int64(littleEndian: v)
    }
    public mutating func readInt() throws -> Int {
        let v = try readInt64()
        guard v >= 0, v < Int64(Int32.max) else { throw Corrupt(offset: offset - 8) }
        return Int(v)
    }
    public mutating func readDouble() throws -> Double { Double(bitPattern: UInt64(bitPattern: try readInt64())) }
    public mutating func readBool() throws -> Bool {
        guard offset < bytes.count, bytes[offset] <= 1 else { throw Corrupt(offset: offset) }
        offset += 1
        return bytes[offset - 1] == 1
    }
    public mutating func readString() throws -> String {
        let count = try readInt()
        guard offset + count <= bytes.count else { throw Corrupt(offset: offset) }
        defer { offset += count }
        return String(decoding: bytes[offset..<offset + count], as: UTF8.self)
    }
    public mutating func readOptionalDouble() throws -> Double? { try readBool() ? try readDouble() : nil }
    public mutating func readOptionalInt64() throws -> Int64? { try readBool() ? try readInt64() : nil }
}

// MARK: Entries of incremental snapshots

extension StateWriter {
    /// One entry of an incremental snapshot: `version`, then what `body` writes.
    public static func entry(version: Int64, _ body: (inout StateWriter) -> Void) -> [UInt8] {
        var w = StateWriter()
        w.write(version)
        body(&w)
        return w.bytes
    }
}

extension StateReader {
    /// Reads an entry written by ``StateWriter/entry(version:_:)``: its version must be
    /// `version` and `body` must read it to its last byte.
    /// - Throws: ``Corrupt`` otherwise, or what `body` throws.
    public static func entry<Value>(_ bytes: [UInt8], version: Int64, _ body: (inout StateReader) throws -> Value) throws -> Value {
        try entry(bytes, versions: CollectionOfOne(version)) { r, _ in try body(&r) }
    }

    /// Reads an entry of any of `versions` (a format that changed, whose older entries still
    /// restore); `body` is told the entry's version and must read it to its last byte.
    public static func entry<Value>(
        _ bytes: [UInt8], versions: some Collection<Int64>, _ body: (inout StateReader, Int64) throws -> Value
    ) throws -> Value {
        var r = StateReader(bytes)
        let version = try r.readInt64()
        guard versions.contains(version) else { throw Corrupt(offset: 0) }
        let value = try body(&r, version)
        guard r.isAtEnd else { throw Corrupt(offset: r.offset) }
        return value
    }
}
