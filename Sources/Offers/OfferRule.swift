import Bonus
import ClubKernel

/// One marketer's rule: when it fires, for whom, on which condition, what it offers, and
/// how often and how many times it may. A class: the engine walks many rules per event and
/// must not copy them.
public final class OfferRule: Sendable {
    public enum Trigger: Sendable, Equatable {
        /// Activity events of these types (daemon-raised ones included: `workout.finished`,
        /// `record.personal`, `training.compared`, `leaderboard.final`).
        case events([String])
        /// A campaign: at `start`, then every `every` milliseconds if set.
        case schedule(start: Int64, every: Int64?)
    }

    public enum Audience: Sendable, Equatable {
        /// The user of the triggering event: a targeted offer.
        case user
        /// Everyone in each of these regions: one regional offer per region.
        case regions([String])
        /// Everyone: one general offer.
        case everyone
    }

    /// What an offer gives.
    public struct Effect: Sendable, Equatable {
        public var text: String
        public var discountPercent: Double?
        public var discountAmount: Double?
        public var categories: [String]
        public var skus: [String]
        /// How long an offer stays valid after it is issued, milliseconds.
        public var validFor: Int64
        /// Codes of this rule's offers start with it.
        public var codePrefix: String
    }

    /// Limits on how often and how many times the rule issues.
    public struct Caps: Sendable, Equatable {
        /// At most one offer per audience key (the user; the region; everyone) in this many ms.
        public var oncePer: Int64?
        /// Most offers in total.
        public var budget: Int?
        /// Most offers per region (a targeted offer counts in its user's region).
        public var regionBudgets: [String: Int] = [:]
        /// Most offers in a region `regionBudgets` does not name.
        public var otherRegionBudget: Int?
    }

    public let id: String
    public let title: String
    public let trigger: Trigger
    public let condition: Expression?
    public let effect: Effect
    public let audience: Audience
    public let caps: Caps
    /// Among rules one event triggers, the highest priority issues (then the lower id).
    public let priority: Int
    public let calendar: LocalCalendar
    /// Where the rule is defined.
    public let origin: Origin

    /// A place in a rule file.
    public struct Origin: Sendable, CustomStringConvertible {
        public let file: String
        public let line: Int
        public let column: Int

        public var description: String { "\(file):\(line):\(column)" }
    }

    public init(
        id: String, title: String, trigger: Trigger, condition: Expression?, effect: Effect, audience: Audience, caps: Caps,
        priority: Int, calendar: LocalCalendar, origin: Origin
    ) {
        self.id = id
        self.title = title
        self.trigger = trigger
        self.condition = condition
        self.effect = effect
        self.audience = audience
        self.caps = caps
        self.priority = priority
        self.calendar = calendar
        self.origin = origin
        readsBalance = condition.map { $0.references(.user(.balance)) } ?? false
    }

    /// Whether the condition reads the user's bonus balance (the stage fetches it only then).
    public let readsBalance: Bool
}

extension Expression {
    func references(_ reference: Reference) -> Bool {
        switch self {
        case .literal: return false
        case .reference(let r): return r == reference
        case .list(let items): return items.contains { $0.references(reference) }
        case .not(let e), .negate(let e): return e.references(reference)
        case .and(let a, let b), .or(let a, let b), .compare(_, let a, let b), .arithmetic(_, let a, let b),
            .member(let a, let b, _):
            return a.references(reference) || b.references(reference)
        case .call(_, let arguments): return arguments.contains { $0.references(reference) }
        }
    }
}
