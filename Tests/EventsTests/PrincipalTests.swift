import ClubKernel
import Events
import Testing

/// Who may say what, per event: a device for its own user and types only, a service within
/// its patterns, an admin anything; a batch refuses the forbidden elements alone.
@Suite struct PrincipalTests {
    let now: Int64 = 1_764_237_600_000
    let decoder = EventDecoder()
    let watch = Principal.device("w1", user: "ann")
    let app = Principal.service("app", events: EventTypePatterns(["group.*", "discussion.posted"]), ops: ["groups"])

    func decode(_ text: String, as sender: Principal?) -> DecodedEvents {
        var result = DecodedEvents()
        decoder.decode(frame: Array(text.utf8), now: now, sender: sender, into: &result)
        return result
    }

    @Test func patternsMatchExactTypesAreasAndEverything() {
        let p = EventTypePatterns(["profile", "group.*"])
        #expect(p.matches("profile") && p.matches("group.created") && p.matches("group.member.added"))
        #expect(!p.matches("group") && !p.matches("groups.created") && !p.matches("profiles") && !p.matches("bonus.spent"))
        #expect(EventTypePatterns(["*"]).matches("anything.at_all"))
        #expect(EventTypePatterns.problem(with: "Bad Type") != nil && EventTypePatterns.problem(with: ".*") != nil)
        #expect(EventTypePatterns.problem(with: "group.*") == nil && EventTypePatterns.problem(with: "*") == nil)
    }

    @Test func onlyAServiceAllowedItSpendsPoints() {
        let spend = #"{"type":"bonus.spent","id":"b","user":"ann","points":5}"#
        #expect(decode(spend, as: Principal.admin("ops")).rejections.first?.reason == .forbidden)
        #expect(decode(spend, as: watch).rejections.first?.reason == .forbidden)
        let shop = Principal.service("shop", events: EventTypePatterns(["bonus.spent"]), ops: [])
        #expect(decode(spend, as: shop).events.first?.sender == "service:shop")
        #expect(decode(spend, as: nil).events.count == 1)  // open mode
    }

    @Test func opsByKind() {
        #expect(watch.mayUse(op: "health") && watch.mayUse(op: "submit") && !watch.mayUse(op: "balance"))
        #expect(app.mayUse(op: "groups") && !app.mayUse(op: "reload"))
        #expect(Principal.admin("ops").mayUse(op: "reload") && Principal.admin("ops").maySubscribe && !watch.maySubscribe)
    }

    @Test func aBatchRefusesEachForbiddenEventAlone() {
        let batch = """
            [{"type":"telemetry","user":"ann","device":"w1","session":"s","ts":\(now - 1000),"distance_m":10},
             {"type":"telemetry","user":"bob","device":"w1","session":"s","ts":\(now - 1000),"distance_m":10},
             {"type":"workout","id":"w","user":"ann","source":"device","sport":"run","start":\(now - 9000),"duration_s":60,"distance_m":100},
             {"type":"profile","id":"p","user":"ann","region":"north"},
             {"type":"session.attended","id":"x","user":"ann","session":"s"}]
            """
        let result = decode(batch, as: watch)
        #expect(result.samples.map(\.user) == ["ann"])
        #expect(result.events.map(\.id) == ["w"] && result.events.first?.sender == "device:w1")
        #expect(result.rejections.map(\.index) == [1, 3, 4])
        #expect(result.rejections.map(\.reason.code) == ["forbidden", "forbidden", "unsupported_type"])
        // The same batch in open mode: only the raised type is refused, and no sender recorded.
        let open = decode(batch, as: nil)
        #expect(open.samples.count == 2 && open.events.count == 2 && open.rejections.map(\.index) == [4])
        #expect(open.events.allSatisfy { $0.sender == nil })
    }

    @Test func aServiceSendsItsPatternsForAnyUser() {
        let result = decode(
            """
            [{"type":"group.created","id":"g","user":"ann","group":"g","kind":"joint","title":"Runners"},
             {"type":"discussion.posted","id":"d","user":"bob","group":"g","post":"p","text":"hi"},
             {"type":"bonus.spent","id":"b","user":"bob","points":5}]
            """, as: app)
        #expect(result.events.map(\.id) == ["g", "d"] && result.events.allSatisfy { $0.sender == "service:app" })
        #expect(result.rejections.map(\.index) == [2] && result.rejections.first?.reason == .forbidden)
    }

    @Test func fuzzedBatchesUnderEverySenderNeverCrashAndAccountForEveryElement() {
        var rng = SystemRandomNumberGenerator()
        let parts = [
            #"{"type":"telemetry","user":"ann","device":"w1","session":"s","ts":1764237590000}"#,
            #"{"type":"telemetry","user":"bob","device":"w1","session":"s","ts":1764237590000}"#,
            #"{"type":"profile","id":"p","user":"ann"}"#, #"{"type":"group.joined","id":"j","user":"bob","group":"g"}"#, "17", "{}",
        ]
        for _ in 0..<500 {
            let n = Int.random(in: 1...8, using: &rng)
            let elements = (0..<n).map { _ in parts.randomElement(using: &rng)! }
            for sender in [watch, app, Principal.admin("ops")] {
                let result = decode("[" + elements.joined(separator: ",") + "]", as: sender)
                #expect(result.samples.count + result.events.count + result.rejections.count == n)
            }
        }
    }
}
