import Definitions
import JSON
import ShopAdapter
import Testing

/// The shop's member records to club events: only the opaque id, region, interests and consent
/// survive; ids are stable for the same record and change with it; bad records are skipped.
@Suite struct MemberMapperTests {
    func events(_ json: String) -> Result<[JSONValue], MemberMapper.Skipped> {
        MemberMapper.events(of: try! JSONValue.parse(Array(json.utf8)))
    }

    @Test func keepsOnlyOpaqueIdsAndCoarseFields() throws {
        let mapped = try events(
            #"{"id":"m-1","name":"Ann Smith","email":"ann@example.com","phone":"+7 900","address":{"city":"X"},"region":"RU-MOW","interests":["running"],"consents":{"strava":false,"garmin":true},"updated_at":17}"#
        ).get()
        #expect(mapped.count == 3)
        let text = mapped.map { String(decoding: $0.serialized(), as: UTF8.self) }.joined()
        for secret in ["Ann", "Smith", "example.com", "+7 900", "city"] { #expect(!text.contains(secret), "\(secret) in \(text)") }
        #expect(mapped[0]["type"] == "profile" && mapped[0]["user"] == "m-1" && mapped[0]["region"] == "RU-MOW" && mapped[0]["interests"] == ["running"])
        #expect(mapped[1]["type"] == "connection" && mapped[1]["system"] == "garmin" && mapped[1]["state"] == "active")
        #expect(mapped[2]["system"] == "strava" && mapped[2]["state"] == "revoked")
    }

    @Test func idsAreStableForTheSameRecordAndChangeWithIt() throws {
        let a = try events(#"{"id":"m-1","region":"RU-MOW","consents":{"garmin":true},"updated_at":1}"#).get()
        let again = try events(#"{"id":"m-1","region":"RU-MOW","consents":{"garmin":true},"updated_at":1,"name":"changed"}"#).get()
        let moved = try events(#"{"id":"m-1","region":"RU-SPE","consents":{"garmin":false},"updated_at":2}"#).get()
        let back = try events(#"{"id":"m-1","region":"RU-MOW","consents":{"garmin":true},"updated_at":3}"#).get()
        #expect(a.map { $0["id"] } == again.map { $0["id"] })  // personal fields do not count
        #expect(a[0]["id"] != moved[0]["id"] && a[1]["id"] != moved[1]["id"])
        #expect(a[1]["id"] != back[1]["id"])  // granted again later: a new event, not a duplicate
    }

    @Test func recordsWithoutAnOpaqueIdAreSkipped() {
        for bad in [#"{"name":"x"}"#, #"{"id":"ann@example.com"}"#, #"{"id":""}"#, #"{"id":17}"#, "[1]", #"{"id":"a b"}"#] {
            guard case .failure = events(bad) else {
                Issue.record("\(bad) was not skipped")
                continue
            }
        }
    }

    @Test func configurationMistakesAreLocated() {
        let text = """
            shop:
              url: ftp://shop
              members_path: members
              retry_initial: 5s
              retry_max: 1s
            club: {server_key: "abc"}
            colour: blue
            """
        do {
            _ = try ShopAdapterConfig.parse(text, file: "adapter.yaml")
            Issue.record("accepted")
        } catch let errors as DefinitionErrors {
            let lines = errors.errors.map { "\($0.line):\($0.column) \($0.message)" }
            #expect(lines.contains { $0.hasPrefix("2:8 'url' must be an http") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("3:17 'members_path' must be a path") }, "\(lines)")
            #expect(lines.contains { $0.contains("'retry_max' must not be below") })
            #expect(lines.contains { $0.contains("needs both 'server_key' and 'key_file'") })
            #expect(lines.contains { $0.hasPrefix("7:1 unknown key 'colour'") }, "\(lines)")
        } catch {
            Issue.record("\(error)")
        }
        #expect((try? ShopAdapterConfig.parse("", file: "empty.yaml")) != nil)
    }
}
