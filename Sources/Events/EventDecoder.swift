import ClubKernel
import JSON

/// Turns ingest frames into validated events, refusing bad input with specific reasons.
///
/// A frame holds one JSON object or an array of objects. Telemetry, the hot path, is read
/// straight from the bytes without building a tree; other event types are kept as trees.
/// A bad element of a batch is refused alone; a frame that is not JSON is refused whole.
public struct EventDecoder: Sendable {
    /// Limits applied while decoding.
    public struct Limits: Sendable {
        /// Largest accepted frame (the contract's default: 1 MiB).
        public var maxFrameBytes: Int = 1 << 20
        /// Most events in one batch frame.
        public var maxBatchEvents: Int = 10_000
        /// Deepest JSON nesting accepted.
        public var maxDepth: Int = 32
        /// How far event time may be ahead of the daemon's clock, in milliseconds.
        public var maxFutureMillis: Int64 = 5 * 60_000

        public init() {}
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Decodes one frame.
    /// - Parameters:
    ///   - frame: the raw frame bytes.
    ///   - now: the current time, epoch milliseconds, for the future-time check.
    ///   - sender: who sent it (`security.mode: curve`): each event it may not assert is refused
    ///     alone with `forbidden`; nil (open mode) lets every client-side type through.
    ///   - into: results are appended here, so a batch of frames shares one value.
    public func decode(frame: [UInt8], now: Int64, sender: Principal? = nil, into result: inout DecodedEvents) {
        frame.withUnsafeBytes { decode(frame: $0, now: now, sender: sender, into: &result) }
    }

    /// Decodes one frame lent as raw bytes (such as a ZeroMQ message, without copying it).
    public func decode(frame: UnsafeRawBufferPointer, now: Int64, sender: Principal? = nil, into result: inout DecodedEvents) {
        guard !frame.isEmpty else {
            result.rejections.append(Rejection(.emptyFrame, "the frame is empty"))
            return
        }
        guard frame.count <= limits.maxFrameBytes else {
            result.rejections.append(
                Rejection(
                    .frameTooLarge, "frame of \(frame.count) bytes exceeds the limit of \(limits.maxFrameBytes)",
                    excerpt: Rejection.excerpt(of: frame)))
            return
        }
        var reader = JSONReader(frame, maxDepth: limits.maxDepth)
        let before = (result.samples.count, result.events.count, result.rejections.count)
        do {
            switch try reader.peekKind() {
            case .object:
                try decodeObject(&reader, index: nil, now: now, sender: sender, into: &result)
            case .array:
                try reader.beginArray()
                var index = 0
                while try reader.nextElement() {
                    guard index < limits.maxBatchEvents else {
                        throw Rejection(
                            .batchTooLarge, "a batch holds at most \(limits.maxBatchEvents) events",
                            excerpt: Rejection.excerpt(of: frame))
                    }
                    if try reader.peekKind() == .object {
                        try decodeObject(&reader, index: index, now: now, sender: sender, into: &result)
                    } else {
                        let start = reader.position
                        try reader.skipValue()
                        result.rejections.append(
                            Rejection(
                                .notAnObject, "batch element is not a JSON object", index: index,
                                excerpt: Rejection.excerpt(of: frame[start..<reader.position])))
                    }
                    index += 1
                }
            default:
                throw Rejection(
                    .notAnObject, "a frame holds a JSON object or an array of objects",
                    excerpt: Rejection.excerpt(of: frame))
            }
            try reader.expectEnd()
        } catch {
            // Nothing of a frame that is not a whole JSON text is accepted.
            result.samples.removeSubrange(before.0...)
            result.events.removeSubrange(before.1...)
            result.rejections.removeSubrange(before.2...)
            let rejection = (error as? Rejection) ?? Self.rejection(for: error as! JSONError, in: frame)
            result.rejections.append(rejection)
        }
    }

    /// Maps a syntax error to the most specific reason.
    static func rejection(for error: JSONError, in buffer: UnsafeRawBufferPointer) -> Rejection {
        let excerpt = Rejection.excerpt(of: buffer)
        switch error.kind {
        case .invalidUTF8: return Rejection(.invalidUTF8, "invalid UTF-8 \(error)", excerpt: excerpt)
        case .tooDeep: return Rejection(.tooDeep, "JSON \(error)", excerpt: excerpt)
        case .invalidNumber where error.detail == "number out of range":
            return Rejection(.notFinite, "number beyond the range of a double \(error)", excerpt: excerpt)
        default:
            let rest = buffer[min(error.offset, buffer.count)...].prefix(9)
            for word in ["NaN", "Infinity", "-Infinity"] where rest.starts(with: word.utf8) {
                return Rejection(.notFinite, "\(word) is not a JSON number (at byte \(error.offset))", excerpt: excerpt)
            }
            return Rejection(.malformedJSON, "malformed JSON: \(error)", excerpt: excerpt)
        }
    }
}

extension Rejection: Error {}
