import DefinitionTesting
import Definitions
import Foundation
import Offers
import Testing

@Suite struct OfferRulesLoadingTests {
    static let valid = """
        time_zone: Europe/Moscow
        offers:
          - id: shoes-600
            title: Time for new shoes
            on: workout
            when: "user.gear_distance_m >= 600000 and event.sport == 'run'"
            offer: {text: "Your shoes passed 600 km: 20% off new ones", discount_percent: 20, categories: [running-shoes], valid_for: 14d}
            audience: user
            caps: {once_per: 180d, budget: 1000, region_budget: {RU-MOW: 500, other: 100}}
            priority: 10
          - id: weekend-spb
            title: Weekend in Saint Petersburg
            schedule: {at: "2026-12-05T09:00:00+03:00", every: 7d}
            offer: {text: "Weekend promo", discount_amount: 500, valid_for: 2d, code_prefix: WKND}
            audience: {regions: [RU-SPE]}
        """

    @Test func validFileLoads() throws {
        let rules = try OfferRules.parse(Self.valid, file: "offers.yaml").rules
        #expect(rules.map(\.id) == ["shoes-600", "weekend-spb"])
        #expect(rules[0].caps.regionBudgets == ["RU-MOW": 500])
        #expect(rules[0].caps.otherRegionBudget == 100)
        #expect(rules[0].effect.codePrefix == "SHOES600")
        #expect(rules[1].trigger == .schedule(start: 1_796_450_400_000, every: 7 * 86_400_000))
        #expect(rules[1].audience == .regions(["RU-SPE"]))
    }

    /// The shipped example files are valid.
    @Test func exampleFilesLoad() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/offers").path
        #expect(try OfferRules.load(directory: directory).rules.count >= 3)
    }

    static let head = "offers:\n  - id: a\n    title: A\n"
    static let offer = "    offer: {text: hi, discount_percent: 10, valid_for: 1d}\n"

    @Test(arguments: [
        // 1. YAML syntax
        ("offers: [", "2:1", "invalid YAML"),
        // 2. the list is missing
        ("time_zone: UTC", "1:1", "missing required key 'offers'"),
        // 3. an unknown key (a typo)
        (head + "    on: workout\n" + offer + "    audience: user\n    priorty: 3\n", "7:5", "unknown key 'priorty'"),
        // 4. no trigger
        (head + offer + "    audience: user\n", "2:5", "a rule needs a trigger"),
        // 5. two triggers
        (head + "    on: workout\n    schedule: {at: '2026-12-01T00:00:00Z'}\n" + offer + "    audience: everyone\n", "5:15", "either 'on' events or on a 'schedule'"),
        // 6. a bad event type
        (head + "    on: Workout\n" + offer + "    audience: user\n", "4:9", "'on' must name activity event types"),
        // 7. a syntax error inside the condition, located in the file
        (head + "    on: workout\n    when: event.distance_m >= \n" + offer + "    audience: user\n", "5:30", "expected a value"),
        // 8. a field the event does not have
        (head + "    on: workout\n    when: \"event.distanse_m > 5000\"\n" + offer + "    audience: user\n", "5:18", "no field 'distanse_m'"),
        // 9. a type mismatch
        (head + "    on: workout\n    when: event.sport == 5\n" + offer + "    audience: user\n", "5:23", "compares a string with a number"),
        // 10. no discount
        (head + "    on: workout\n    offer: {text: hi, valid_for: 1d}\n    audience: user\n", "5:12", "an offer needs a discount"),
        // 11. both discounts
        (head + "    on: workout\n    offer: {text: hi, discount_percent: 5, discount_amount: 5, valid_for: 1d}\n    audience: user\n", "5:61", "not both"),
        // 12. a percentage out of range
        (head + "    on: workout\n    offer: {text: hi, discount_percent: 150, valid_for: 1d}\n    audience: user\n", "5:41", "'discount_percent' must be a number in 0.01...100"),
        // 13. a validity that is not a duration
        (head + "    on: workout\n    offer: {text: hi, discount_percent: 5, valid_for: soon}\n    audience: user\n", "5:55", "'valid_for' must be a duration"),
        // 14. an unknown audience
        (head + "    on: workout\n" + offer + "    audience: friends\n", "6:15", "'audience' must be 'user', 'everyone'"),
        // 15. a region code that is not one
        (head + "    on: workout\n" + offer + "    audience: {regions: [Moscow]}\n", "6:26", "'Moscow' is not a region code"),
        // 16. a scheduled rule aimed at 'the user'
        (head + "    schedule: {at: '2026-12-01T00:00:00Z'}\n" + offer + "    audience: user\n", "6:15", "a scheduled rule has no triggering user"),
        // 17. a scheduled rule with a condition
        (head + "    schedule: {at: '2026-12-01T00:00:00Z'}\n    when: 'true'\n" + offer + "    audience: everyone\n", "5:11", "remove 'when'"),
        // 18. a bad schedule time
        (head + "    schedule: {at: 'next friday'}\n" + offer + "    audience: everyone\n", "4:20", "'at' must be an RFC 3339 time"),
        // 19. a schedule repeating too often
        (head + "    schedule: {at: '2026-12-01T00:00:00Z', every: 5m}\n" + offer + "    audience: everyone\n", "4:51", "'every' must be a duration"),
        // 20. a region budget outside the audience
        (head + "    on: workout\n" + offer + "    audience: {regions: [RU-SPE]}\n    caps: {region_budget: {RU-MOW: 5}}\n", "7:36", "not in the rule's audience"),
        // 21. a negative budget
        (head + "    on: workout\n" + offer + "    audience: user\n    caps: {budget: -1}\n", "7:20", "'budget' must be an integer"),
        // 22. duplicate ids
        (head + "    on: workout\n" + offer + "    audience: user\n  - id: a\n    title: B\n    on: workout\n    offer: {text: hi, discount_percent: 10, valid_for: 1d, code_prefix: B}\n    audience: user\n", "7:5", "duplicate offer rule id 'a'"),
        // 23. a code prefix two rules share
        (head + "    on: workout\n    offer: {text: hi, discount_percent: 10, valid_for: 1d, code_prefix: X}\n    audience: user\n  - id: b\n    title: B\n    on: workout\n    offer: {text: hi, discount_percent: 10, valid_for: 1d, code_prefix: X}\n    audience: user\n", "7:5", "code prefix 'X' is already used"),
        // 24. a bad code prefix
        (head + "    on: workout\n    offer: {text: hi, discount_percent: 10, valid_for: 1d, code_prefix: ab-c}\n    audience: user\n", "5:73", "'code_prefix' must be 1 to 16 capital letters"),
        // 25. a condition that is not text
        (head + "    on: workout\n    when: {distance_m: 5}\n" + offer + "    audience: user\n", "5:11", "'when' must be a condition written as text"),
        // 26. an unknown time zone
        ("time_zone: Moscow\noffers: []", "1:12", "unknown time zone"),
    ])
    func mistakesAreLocated(text: String, location: String, message: String) {
        #expect(DefinitionTesting.location(of: message) { _ = try OfferRules.parse(text, file: "offers.yaml") } == location)
    }

    /// Mutated rule files are either valid or refused with located errors; never a crash.
    @Test func fuzzedRuleFilesAreAcceptedOrRefusedWithALocation() {
        for text in DefinitionTesting.mutations(of: Self.valid, count: 1_000, edits: 6) {
            let errors = DefinitionTesting.errors { _ = try OfferRules.parse(text, file: "f.yaml") }
            #expect(errors.allSatisfy { $0.line >= 1 && $0.column >= 1 }, "\(errors)")
        }
    }

    @Test func conditionInQuotesIsLocatedInsideTheQuotes() {
        let text = Self.head + "    on: workout\n    when: 'event.sport == \"run\" and event.max_hr > \"high\"'\n" + Self.offer + "    audience: user\n"
        #expect(DefinitionTesting.location(of: "orders two numbers") { _ = try OfferRules.parse(text, file: "f.yaml") } == "5:50")
    }
}
