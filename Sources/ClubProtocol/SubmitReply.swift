import JSON

/// The `submit` reply, sent once the accepted events are durable.
public struct SubmitReply: Reply, Equatable {
    /// An event of the request that was refused, by its index in `events`.
    public struct Refusal: Sendable, Equatable {
        public var index: Int
        public var code: String
        public var message: String

        public init(index: Int, code: String, message: String) {
            self.index = index
            self.code = code
            self.message = message
        }
    }

    public var accepted: Int
    /// Repeats within the request, and ids already in the activity log.
    public var duplicates: Int
    public var rejected: [Refusal]

    public init(accepted: Int, duplicates: Int, rejected: [Refusal]) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.rejected = rejected
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("accepted", accepted)
        w.member("duplicates", duplicates)
        w.key("rejected")
        w.beginArray()
        for r in rejected {
            w.beginObject()
            w.member("index", r.index)
            w.member("code", r.code)
            w.member("message", r.message)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        accepted = try r.int("accepted")
        duplicates = try r.int("duplicates")
        rejected = []
        for value in try r.array("rejected") {
            let e = ReplyReader(value: value)
            rejected.append(Refusal(index: try e.int("index"), code: try e.string("code"), message: try e.string("message")))
        }
    }
}

/// The `snapshot` reply: when the snapshot was taken, its size and the journal position it holds.
public struct SnapshotReply: Reply, Equatable {
    public var takenAt: Int
    /// The snapshot's size (`bytes` on the wire).
    public var byteCount: Int
    public var journalPosition: Int

    public init(takenAt: Int, byteCount: Int, journalPosition: Int) {
        self.takenAt = takenAt
        self.byteCount = byteCount
        self.journalPosition = journalPosition
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("taken_at", takenAt)
        w.member("bytes", byteCount)
        w.member("journal_position", journalPosition)
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        takenAt = try r.int("taken_at")
        byteCount = try r.int("bytes")
        journalPosition = try r.int("journal_position")
    }
}
