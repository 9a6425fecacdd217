import ClubKernel
/// Applies the bonus rules to activity events, one user account at a time. Pure and
/// deterministic: the same events in the same order, at the same `now`, give the same
/// ledger, which is what makes replay after a crash exact.
public struct BonusEngine: Sendable {
    public let rules: BonusRules

    /// Why an event earned nothing and changed nothing, when that is an error for its sender.
    public struct Refusal: Error, Sendable, Equatable {
        /// A stable machine code: `insufficient_balance` or `invalid_spend`.
        public let code: String
        public let message: String
    }

    /// The event type the shop's adapter sends when a purchase was paid with points.
    public static let spendType = "bonus.spent"
    /// A competition's prize for one winner, raised by the daemon: its `points` are booked
    /// under rule `competition:<competition>`, not limited by the caps.
    public static let prizeType = "competition.prize"

    /// Events that name several users in `users` (one `community.ran_together` for a group
    /// that ran together): the rules apply to each of them, as if each had the event.
    public static let groupTypes: Set<String> = ["community.ran_together"]

    /// The event once per user it rewards: itself, or for a group type a copy per user of
    /// `users` (same id, so the ledger's key — user, event, rule — books each once).
    public static func beneficiaries(of event: ActivityEvent) -> [ActivityEvent] {
        guard groupTypes.contains(event.type), let users = event.body["users"]?.arrayValue?.compactMap(\.stringValue), !users.isEmpty
        else { return [event] }
        return Set(users).sorted().map(event.crediting)
    }

    public init(rules: BonusRules) {
        self.rules = rules
        types = rules.rules.reduce(into: [Self.spendType, Self.prizeType]) { $0.formUnion($1.on) }
    }

    /// The event types that can change an account: those the rules are on, spends and prizes.
    /// Events of other types earn nothing (their user's expiries come with the next sweep).
    public let types: Set<String>

    /// Expires what is due at `now`, then applies `event` to the account of `event.user`.
    /// - Returns: the ledger entries in order, or a refusal (a spend larger than the
    ///   balance, or without a valid `points` field) that leaves the account as it was
    ///   apart from expiries.
    public func apply(_ event: ActivityEvent, to account: inout BonusAccount, now: Int64) -> (
        entries: [LedgerEntry], refusal: Refusal?
    ) {
        var entries = expire(&account, user: event.user, now: now)
        if event.type == Self.spendType {
            switch spend(event, from: &account) {
            case .success(let entry): entries.append(entry)
            case .failure(let refusal): return (entries, refusal)
            }
        } else if event.type == Self.prizeType {
            entries += prize(event, to: &account)
        } else {
            entries += award(event, to: &account)
        }
        return (entries, nil)
    }

    /// Turns the points of lots whose time has come into expiry entries.
    public func expire(_ account: inout BonusAccount, user: String, now: Int64) -> [LedgerEntry] {
        guard let next = account.nextExpiry, next <= now else { return [] }
        var entries: [LedgerEntry] = []
        account.revision += 1
        account.lots.removeAll { lot in
            guard lot.expiresAt <= now else { return false }
            account.balance -= lot.remaining
            account.lotChanges.append(.delete(event: lot.event, rule: lot.rule))
            entries.append(
                LedgerEntry(
                    user: user, event: lot.event, rule: lot.rule, kind: .expire, points: -lot.remaining, at: lot.expiresAt,
                    balance: account.balance))
            return true
        }
        return entries
    }

    private func spend(_ event: ActivityEvent, from account: inout BonusAccount) -> Result<LedgerEntry, Refusal> {
        guard let points = event.body["points"]?.int64Value, points > 0, points <= Int64(Int32.max) else {
            return .failure(Refusal(code: "invalid_spend", message: "a bonus.spent event needs 'points', a positive integer"))
        }
        let amount = Int(points)
        guard amount <= account.balance else {
            return .failure(
                Refusal(
                    code: "insufficient_balance",
                    message: "user \(event.user) has \(account.balance) points; the purchase asks for \(amount)"))
        }
        account.balance -= amount
        account.revision += 1
        var left = amount
        var used = 0
        while left > 0, used < account.lots.count {
            let taken = min(left, account.lots[used].remaining)
            account.lots[used].remaining -= taken
            left -= taken
            let lot = account.lots[used]
            if lot.remaining == 0 {
                account.lotChanges.append(.delete(event: lot.event, rule: lot.rule))
                used += 1
            } else {
                account.lotChanges.append(.write(lot))
            }
        }
        account.lots.removeFirst(used)
        return .success(
            LedgerEntry(
                user: event.user, event: event.id, rule: "spend", kind: .spend, points: -amount, at: event.at,
                balance: account.balance))
    }

    private func prize(_ event: ActivityEvent, to account: inout BonusAccount) -> [LedgerEntry] {
        guard let points = event.body["points"]?.int64Value, points > 0, points <= Int64(Int32.max),
            let competition = event.body["competition"]?.stringValue
        else { return [] }
        return capped([("competition:\(competition)", Int(points))], event: event, account: &account, limited: false)
    }

    private func award(_ event: ActivityEvent, to account: inout BonusAccount) -> [LedgerEntry] {
        // What a device asserts about its own user (curve mode) earns nothing: points reward what
        // the daemon raises from telemetry and what services send (docs/security.md).
        if event.isSelfAsserted { return [] }
        var awards: [(rule: String, points: Int)] = []
        var streakAwards: [(rule: String, points: Int)] = []
        var factor = 1.0
        for rule in rules.rules where rule.matches(event) {
            switch rule.effect {
            case .award(let points, nil):
                awards.append((rule.id, points))
            case .award(let points, let per?):
                guard let value = event.body[per.field]?.doubleValue, value > 0 else { continue }
                let units = (value / per.unit).rounded(.down)
                if units >= 1 { awards.append((rule.id, points * Int(min(units, 1e9)))) }
            case .multiplier(let f):
                factor *= f
            case .streak(let days, let points):
                let length = advanceStreak(rule.id, to: rules.calendar.day(of: event.at), in: &account)
                if length > 0, length % days == 0 {
                    streakAwards.append((rule.id, points))
                }
            }
        }
        let multiplied = awards.map { ($0.rule, Int((Double($0.points) * factor).rounded(.down))) }
        return capped(multiplied + streakAwards, event: event, account: &account)
    }

    /// Extends the streak of `rule` with an active `day`.
    /// - Returns: the streak's new length, or 0 when the day does not extend it (the same
    ///   day again, or a day before the last active one).
    private func advanceStreak(_ rule: String, to day: Int64, in account: inout BonusAccount) -> Int {
        account.revision += 1
        guard let streak = account.streaks[rule] else {
            account.streaks[rule] = .init(lastDay: day, length: 1)
            return 1
        }
        guard day > streak.lastDay else { return 0 }
        let length = day == streak.lastDay + 1 ? streak.length + 1 : 1
        account.streaks[rule] = .init(lastDay: day, length: length)
        return length
    }

    /// Books awards within the daily and weekly caps; what exceeds them is not awarded.
    /// - Parameter limited: whether the daily and weekly caps apply (not to prizes).
    private func capped(
        _ awards: [(rule: String, points: Int)], event: ActivityEvent, account: inout BonusAccount, limited: Bool = true
    ) -> [LedgerEntry] {
        let day = rules.calendar.day(of: event.at)
        let week = rules.calendar.week(of: event.at)
        var entries: [LedgerEntry] = []
        for (rule, points) in awards where points > 0 {
            var allowed = points
            if limited, let cap = rules.dailyCap { allowed = min(allowed, cap - account.dayPoints[day, default: 0]) }
            if limited, let cap = rules.weeklyCap { allowed = min(allowed, cap - account.weekPoints[week, default: 0]) }
            guard allowed > 0 else { continue }
            if limited {
                account.dayPoints[day, default: 0] += allowed
                account.weekPoints[week, default: 0] += allowed
            }
            account.balance += allowed
            account.revision += 1
            if let expiry = rules.expiryMillis {
                let lot = BonusAccount.Lot(event: event.id, rule: rule, remaining: allowed, expiresAt: event.at + expiry)
                account.lots.append(lot)
                account.lotChanges.append(.write(lot))
            }
            entries.append(
                LedgerEntry(
                    user: event.user, event: event.id, rule: rule, kind: .award, points: allowed, at: event.at,
                    balance: account.balance))
        }
        if let newest = account.dayPoints.keys.max() { account.dayPoints = account.dayPoints.filter { $0.key > newest - 8 } }
        if let newest = account.weekPoints.keys.max() { account.weekPoints = account.weekPoints.filter { $0.key > newest - 2 } }
        return entries
    }
}
