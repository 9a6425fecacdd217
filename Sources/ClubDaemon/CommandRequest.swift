import JSON

/// A command request read from its frame: every member as a tree, except `events`, which is
/// kept as its raw bytes so that `submit` decodes them once, with the ingest decoder.
struct CommandRequest {
    var fields = JSONObject()
    /// The raw JSON of the `events` member, if present.
    var events: [UInt8]?

    /// - Throws: ``JSONError`` when the frame is not JSON; returns nil when it is not an object.
    static func parse(_ frame: [UInt8], maxDepth: Int) throws -> CommandRequest? {
        try frame.withUnsafeBytes { buffer in
            var reader = JSONReader(buffer, maxDepth: maxDepth)
            guard try reader.peekKind() == .object else {
                try reader.skipValue()
                try reader.expectEnd()
                return nil
            }
            var request = CommandRequest()
            try reader.beginObject()
            while let key = try reader.nextKey() {
                let name = reader.string(of: key)
                if name == "events" {
                    _ = try reader.peekKind()
                    let start = reader.position
                    try reader.skipValue()
                    request.events = Array(reader.slice(from: start, to: reader.position))
                } else {
                    request.fields[name] = try reader.readValue()
                }
            }
            try reader.expectEnd()
            return request
        }
    }
}
