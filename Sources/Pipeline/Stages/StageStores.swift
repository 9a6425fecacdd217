import ClubKernel
import ClubRuntime
import Offers

/// What the offer stage needs of storage: the activity log (its preview replays it), and the
/// issued offers with the users' facts, the campaigns' occurrences and the log position they
/// reflect, committed together.
public protocol OfferStore: ActivityLogReading {
    /// The position, the users' facts and the campaigns' last occurrences, as committed.
    func offersState() async throws -> OffersState
    /// What the caps and budgets have counted so far.
    func offerCounters() async throws -> OfferEngine.Counters
    /// Offers, facts and occurrences with the log position (nil: the position stays), atomically.
    func commitOffers(position: Int64?, offers: [IssuedOffer], facts: [String: [UInt8]], occurrences: [String: Int64]) async throws
    /// The members of each offer valid at `now` for `user`: targeted, for `region`, general.
    func validOffers(user: String, region: String?, now: Int64, limit: Int) async throws -> [[UInt8]]
}

/// What a consumer that keeps its state as one blob needs: the blob and its log offset,
/// committed together (the training stage).
public protocol ConsumerStateStore: ActivityLogReading {
    /// The consumer's last committed state and offset, or nil before its first commit.
    func consumerState(_ name: String) async throws -> (offset: Int64, state: [UInt8])?
    /// The state with its offset, and `raising` appended to the activity log, in one transaction.
    func commitConsumer(_ name: String, offset: Int64, state: [UInt8], raising: [ActivityEvent]) async throws
}

extension ConsumerStateStore {
    /// The state with its offset, in one transaction.
    public func commitConsumer(_ name: String, offset: Int64, state: [UInt8]) async throws {
        try await commitConsumer(name, offset: offset, state: state, raising: [])
    }
}

/// What a consumer that keeps no state needs: its offset (the activity feed).
public protocol ConsumerOffsetStore: ActivityLogReading {
    /// Where the consumer stopped (0 before its first commit).
    func consumerOffset(_ name: String) async throws -> Int64
    func commitOffset(_ name: String, _ offset: Int64) async throws
}

