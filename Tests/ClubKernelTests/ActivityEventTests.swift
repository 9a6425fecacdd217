import ClubKernel
import JSON
import Testing

/// The activity event is one type from the append to the engines: its JSON as stored, its
/// fields parsed when first asked for.
@Suite struct ActivityEventTests {
    static let json = Array(#"{"type":"club.visited","id":"v1","user":"u-1","minutes":42,"pad":"x"}"#.utf8)

    @Test func fieldsAreReadFromTheStoredJSONAndKeptAcrossTheAppend() throws {
        let event = ActivityEvent(id: "v1", type: "club.visited", user: "u-1", at: 5, json: Self.json)
        #expect(event.offset == 0)
        let stored = event.appended(at: 17)
        #expect(stored.offset == 17 && stored.json == Self.json && stored.id == "v1")
        #expect(stored.body["minutes"]?.int64Value == 42)
        #expect(stored.body["pad"] == "x")  // unknown fields are kept
        #expect(stored != event)  // the offset is part of the entry
        #expect(stored == ActivityEvent(offset: 17, id: "v1", type: "club.visited", user: "u-1", at: 5, json: Self.json))
    }

    @Test func decodedFieldsAreUsedAsTheyAreAndNonObjectsReadAsEmpty() throws {
        guard case .object(let body) = try JSONValue.parse(Self.json) else { Issue.record("not an object"); return }
        let seeded = ActivityEvent(id: "v1", type: "club.visited", user: "u-1", at: 5, json: Self.json, body: body, consent: nil)
        #expect(seeded.body == body)
        let broken = ActivityEvent(id: "b", type: "x.y", user: "u", at: 1, json: Array("[1,2".utf8))
        #expect(broken.body.keys.isEmpty)
        let raised = ActivityEvent.raised("record.personal", id: "r1", user: "u-1", at: 9, members: Array(#""user":"u-1","km":5"#.utf8))
        #expect(raised.body["type"] == "record.personal" && raised.body["ts"]?.int64Value == 9 && raised.body["km"]?.int64Value == 5)
    }
}
