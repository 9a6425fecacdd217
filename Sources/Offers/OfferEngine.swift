import Bonus
import ClubKernel
import JSON

/// Applies the offer rules to activity events and schedules: at most one offer per trigger
/// (the highest-priority rule whose condition holds and whose caps allow), caps and budgets
/// counted exactly. Pure: the offer stage persists what it issues and the facts it learns,
/// and a restarted engine rebuilds its counters from the issued offers.
public struct OfferEngine: Sendable {
    public private(set) var rules: OfferRules
    /// The rules one event type triggers, highest priority first, with their conditions.
    private struct Trigger: Sendable {
        var rules: [OfferRule] = []
        var conditions = ConditionProgram()
    }

    /// Event-triggered rules by event type.
    private var byType: [String: Trigger] = [:]
    /// The event fields the conditions read.
    private var slots = FieldSlots()
    /// Event types some of whose rules read the user's bonus balance.
    private var typesReadingBalance: Set<String> = []
    /// What the engine knows of each user.
    public var facts: [String: UserFacts] = [:]
    /// How workouts from several sources count (see `WorkoutBook`).
    public let sourcePriority: [String]
    private var issued: [String: Int] = [:]
    private var issuedInRegion: [String: [String: Int]] = [:]
    /// Per rule, per audience key: when its last offer was issued.
    private var lastIssued: [String: [IssuedOffer.Audience: Int64]] = [:]
    /// Per scheduled rule: its last occurrence that was handled.
    private var lastOccurrence: [String: Int64] = [:]

    public init(rules: OfferRules, sourcePriority: [String] = []) {
        self.rules = rules
        self.sourcePriority = sourcePriority
        index()
    }

    /// Replaces the rules; counters of rules that stay (by id) are kept.
    public mutating func reload(_ rules: OfferRules) {
        self.rules = rules
        index()
    }

    private mutating func index() {
        var ordered: [String: [OfferRule]] = [:]
        for rule in rules.rules {
            guard case .events(let types) = rule.trigger else { continue }
            for type in types { ordered[type, default: []].append(rule) }
        }
        byType = [:]
        slots = FieldSlots()
        for (type, list) in ordered {
            var trigger = Trigger()
            trigger.rules = list.sorted { a, b in a.priority != b.priority ? a.priority > b.priority : a.id < b.id }
            for rule in trigger.rules { trigger.conditions.append(rule.condition, calendar: rule.calendar, slots: &slots) }
            byType[type] = trigger
        }
        typesReadingBalance = Set(byType.filter { $0.value.rules.contains { $0.readsBalance } }.keys)
    }

    /// What caps and budgets count, summarised from the offers issued before a restart.
    public struct Counters: Sendable {
        /// Offers per rule.
        public var issued: [String: Int] = [:]
        /// Offers per rule and region.
        public var issuedInRegion: [String: [String: Int]] = [:]
        /// The last offer's time per rule and audience.
        public var lastIssued: [String: [IssuedOffer.Audience: Int64]] = [:]

        public init() {}
    }

    /// Continues caps and budgets from the offers issued before (restart).
    public mutating func restore(_ counters: Counters) {
        issued = counters.issued
        issuedInRegion = counters.issuedInRegion
        lastIssued = counters.lastIssued
    }

    /// Restores a scheduled rule's last handled occurrence.
    public mutating func restoreOccurrence(rule: String, at time: Int64) {
        lastOccurrence[rule] = max(lastOccurrence[rule] ?? .min, time)
    }

    /// Whether some rule triggered by `type` reads the user's bonus balance.
    public func readsBalance(_ type: String) -> Bool { typesReadingBalance.contains(type) }

    /// Whether any rule fires on events of `type`.
    public func fires(on type: String) -> Bool { byType[type] != nil }

    /// The event types rules fire on.
    public var triggers: Set<String> { Set(byType.keys) }

    /// Learns what `event` tells about its user, without applying the rules.
    public mutating func learn(_ event: ActivityEvent) {
        guard UserFacts.learns(from: event.type) else { return }
        facts[event.user, default: UserFacts()].learn(event, sourcePriority: sourcePriority)
    }

    /// Learns from `event` and issues what the rules say (at most one rule's offers).
    public mutating func apply(_ event: ActivityEvent, balance: Int? = nil) -> [IssuedOffer] {
        learn(event)
        return apply(event, facts: facts[event.user] ?? UserFacts(), balance: balance)
    }

    /// Issues what the rules say about `event`, judged on `facts` as they stand after it
    /// (learned elsewhere: the daemon's training stage hands them on).
    public mutating func apply(_ event: ActivityEvent, facts: UserFacts, balance: Int?) -> [IssuedOffer] {
        guard let trigger = byType[event.type], let first = trigger.rules.first else { return [] }
        var frame = EvaluationFrame(
            EvaluationContext(event: event, facts: facts, balance: balance, calendar: first.calendar), slots: slots)
        var next = 0
        while let index = trigger.conditions.firstHolding(from: next, &frame) {
            next = index + 1
            let rule = trigger.rules[index]
            let audiences: [IssuedOffer.Audience]
            switch rule.audience {
            case .user: audiences = [.user(event.user)]
            case .regions(let regions): audiences = regions.map { .region($0) }
            case .everyone: audiences = [.everyone]
            }
            let offers = issue(rule, to: audiences, trigger: event.id, at: event.at, userRegion: facts.region)
            if !offers.isEmpty { return offers }
        }
        return []
    }

    /// Issues the campaigns whose occurrences are due at `now` (each occurrence once; of
    /// those missed while the daemon was down, the latest is issued late, with its own time).
    /// - Returns: the offers, and the occurrences handled per rule (to be stored with them).
    public mutating func due(now: Int64) -> (offers: [IssuedOffer], occurrences: [String: Int64]) {
        var result: [IssuedOffer] = []
        var occurrences: [String: Int64] = [:]
        for rule in rules.rules {
            guard case .schedule(let start, let every) = rule.trigger, now >= start else { continue }
            let latest = every.map { start + (now - start) / $0 * $0 } ?? start
            guard latest > lastOccurrence[rule.id] ?? .min else { continue }
            lastOccurrence[rule.id] = latest
            occurrences[rule.id] = latest
            let audiences: [IssuedOffer.Audience]
            switch rule.audience {
            case .regions(let regions): audiences = regions.map { .region($0) }
            case .everyone, .user: audiences = [.everyone]
            }
            result += issue(rule, to: audiences, trigger: "schedule:\(latest)", at: latest, userRegion: nil)
        }
        return (result, occurrences)
    }

    /// The offers of one rule firing, where caps allow them.
    private mutating func issue(
        _ rule: OfferRule, to audiences: [IssuedOffer.Audience], trigger: String, at time: Int64, userRegion: String?
    ) -> [IssuedOffer] {
        var offers: [IssuedOffer] = []
        for audience in audiences {
            let region: String
            switch audience {
            case .user: region = userRegion ?? "unknown"
            case .region(let code): region = code
            case .everyone: region = ""
            }
            guard allows(rule, audience: audience, region: region, at: time) else { continue }
            let offer = Self.offer(rule, audience: audience, region: region, trigger: trigger, at: time)
            count(offer)
            offers.append(offer)
        }
        return offers
    }

    private func allows(_ rule: OfferRule, audience: IssuedOffer.Audience, region: String, at time: Int64) -> Bool {
        if let budget = rule.caps.budget, issued[rule.id, default: 0] >= budget { return false }
        if !region.isEmpty, let limit = rule.caps.regionBudgets[region] ?? rule.caps.otherRegionBudget,
            issuedInRegion[rule.id]?[region, default: 0] ?? 0 >= limit
        {
            return false
        }
        if let period = rule.caps.oncePer, let last = lastIssued[rule.id]?[audience], abs(time - last) < period { return false }
        return true
    }

    private mutating func count(_ offer: IssuedOffer) {
        issued[offer.rule, default: 0] += 1
        if !offer.region.isEmpty { issuedInRegion[offer.rule, default: [:]][offer.region, default: 0] += 1 }
        lastIssued[offer.rule, default: [:]][offer.audience] = max(lastIssued[offer.rule]?[offer.audience] ?? .min, offer.issuedAt)
    }

    /// How many offers a rule has issued.
    public func issuedCount(_ rule: String) -> Int { issued[rule] ?? 0 }

    static func offer(_ rule: OfferRule, audience: IssuedOffer.Audience, region: String, trigger: String, at time: Int64) -> IssuedOffer {
        let code = rule.effect.codePrefix + "-" + Self.codeSuffix("\(rule.id)\u{0}\(trigger)\u{0}\(audience.kind)\u{0}\(audience.key)")
        let e = rule.effect
        return IssuedOffer(
            code: code, rule: rule.id, audience: audience, region: region, trigger: trigger, issuedAt: time, validUntil: time + e.validFor,
            title: rule.title, text: e.text, discountPercent: e.discountPercent, discountAmount: e.discountAmount, categories: e.categories,
            skus: e.skus)
    }

    /// 12 characters of Crockford base32 from a 64-bit FNV-1a hash: codes follow from what
    /// issued them, so a replay after a crash issues the same codes.
    static func codeSuffix(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var result = ""
        for _ in 0..<12 {
            result.append(alphabet[Int(hash & 31)])
            hash >>= 5
        }
        return result
    }
}
