import ArgumentParser
import ClubClient
import JSON

/// Fills a daemon's activity log through `submit`, a thousand events per request, for the
/// benchmarks that replay a recorded log (offers, training).
struct SubmitBatcher {
    let client: CommandClient
    /// Whether an event refused in a reply fails the recording.
    let refuseRejections: Bool
    private var batch: [[UInt8]] = []

    init(client: CommandClient, refuseRejections: Bool = false) {
        self.client = client
        self.refuseRejections = refuseRejections
    }

    /// Adds one event's JSON; a full batch is submitted.
    mutating func add(_ event: String) throws {
        batch.append(Array(event.utf8))
        if batch.count == 1000 { try flush() }
    }

    /// Submits what is left.
    mutating func flush() throws {
        guard !batch.isEmpty else { return }
        let request = Array(#"{"op":"submit","events":["#.utf8) + Array(batch.joined(separator: [UInt8(ascii: ",")])) + Array("]}".utf8)
        let reply = try client.request(request)
        guard reply["ok"] == .bool(true), !refuseRejections || (reply["rejected"]?.arrayValue?.isEmpty ?? true) else {
            throw ValidationError("submit refused: \(reply.jsonText)")
        }
        batch = []
    }
}
