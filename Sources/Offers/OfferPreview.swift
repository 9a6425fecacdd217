import JSON

/// What rules would have done over recorded history: offers, users, regions and budgets.
/// Nothing is issued; the figures come from a private engine replaying the log.
public struct OfferPreview: Sendable {
    public let rules: OfferRules
    public private(set) var eventsReplayed = 0
    public private(set) var offers = 0
    public private(set) var users: Set<String> = []
    /// Offers per region (`all` for general ones; `unknown` for users without a region).
    public private(set) var byRegion: [String: Int] = [:]
    public private(set) var byRule: [String: Int] = [:]

    public init(rules: OfferRules) { self.rules = rules }

    /// Counts an event that the rules were evaluated on, and the offers it would issue.
    public mutating func record(_ issued: [IssuedOffer], events: Int = 1) {
        eventsReplayed += events
        for offer in issued {
            offers += 1
            if case .user(let user) = offer.audience { users.insert(user) }
            byRegion[offer.region.isEmpty ? "all" : offer.region, default: 0] += 1
            byRule[offer.rule, default: 0] += 1
        }
    }

    /// The members of the preview reply.
    public var members: [UInt8] {
        var w = JSONWriter()
        w.member("events_replayed", eventsReplayed)
        w.member("offers", offers)
        w.member("users", users.count)
        w.key("by_region")
        w.beginObject()
        for (region, count) in byRegion.sorted(by: { $0.key < $1.key }) { w.member(region, count) }
        w.endObject()
        w.key("rules")
        w.beginArray()
        for rule in rules.rules {
            let count = byRule[rule.id] ?? 0
            w.beginObject()
            w.member("rule", rule.id)
            w.member("offers", count)
            w.key("budget")
            if let budget = rule.caps.budget { w.value(budget) } else { w.null() }
            if let amount = rule.effect.discountAmount { w.member("discount_amount_total", amount * Double(count)) }
            w.endObject()
        }
        w.endArray()
        return w.bytes
    }
}
