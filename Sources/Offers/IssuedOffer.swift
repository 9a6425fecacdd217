/// An offer a rule issued: to one user, to a region, or to everyone.
public struct IssuedOffer: Sendable, Equatable {
    public enum Audience: Sendable, Equatable, Hashable {
        case user(String)
        case region(String)
        case everyone

        /// `user`, `region` or `all`, as stored and published.
        public var kind: String {
            switch self {
            case .user: return "user"
            case .region: return "region"
            case .everyone: return "all"
            }
        }

        /// The user id, the region code, or "" for everyone.
        public var key: String {
            switch self {
            case .user(let user): return user
            case .region(let region): return region
            case .everyone: return ""
            }
        }

        public init?(kind: String, key: String) {
            switch kind {
            case "user": self = .user(key)
            case "region": self = .region(key)
            case "all": self = .everyone
            default: return nil
            }
        }

        /// The topic the offer is published on.
        public var topic: String {
            switch self {
            case .user(let user): return "offer.user.\(user)"
            case .region(let region): return "offer.region.\(region)"
            case .everyone: return "offer.all"
            }
        }
    }

    /// Unique: the rule's code prefix and a hash of rule, trigger and audience.
    public let code: String
    public let rule: String
    public let audience: Audience
    /// The region whose budget the offer counts in (a targeted offer: its user's region, or
    /// `unknown`); empty for general offers.
    public let region: String
    /// The event id that triggered it, or `schedule:<time>` for a campaign.
    public let trigger: String
    public let issuedAt: Int64
    public let validUntil: Int64
    /// The rule's title.
    public let title: String
    /// What it gives: the rule's effect.
    public let text: String
    public let discountPercent: Double?
    public let discountAmount: Double?
    public let categories: [String]
    public let skus: [String]

    public init(
        code: String, rule: String, audience: Audience, region: String, trigger: String, issuedAt: Int64, validUntil: Int64,
        title: String, text: String, discountPercent: Double?, discountAmount: Double?, categories: [String], skus: [String]
    ) {
        self.code = code
        self.rule = rule
        self.audience = audience
        self.region = region
        self.trigger = trigger
        self.issuedAt = issuedAt
        self.validUntil = validUntil
        self.title = title
        self.text = text
        self.discountPercent = discountPercent
        self.discountAmount = discountAmount
        self.categories = categories
        self.skus = skus
    }
}
