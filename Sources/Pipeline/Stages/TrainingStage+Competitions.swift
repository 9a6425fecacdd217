import ClubKernel
import ClubProtocol
import ClubRuntime
import JSON
import Training

/// Competitions in the training stage: counted workouts (one copy per activity) join the
/// standings of the competitions they fit, boards are published on `competition.<id>` at most
/// once per publish interval, and when the clock passes a competition's `end + grace` its result
/// becomes final — committed with the state and its `competition.finished` and
/// `competition.prize` events in one transaction, so it is decided once, also across `kill -9`.
extension TrainingStage {
    func placeInCompetitions(_ applied: TrainingState.Applied) {
        guard !applied.counted.isEmpty || !applied.uncounted.isEmpty else { return }
        let state = self.state
        competitions.place(counted: applied.counted, uncounted: applied.uncounted, region: { state.region(of: $0) })
        competitionsDirty.formUnion(competitions.takeChanged())
    }

    /// Makes final what the clock has passed: the results are committed with the state.
    func finishCompetitions(now: Int64) async throws {
        let due = competitions.finish(now: now)
        guard !due.isEmpty else { return }
        for id in due {
            guard let c = competitions.all[id] else { continue }
            let results = Competitions.results(of: c)
            logger.info("competition final", metadata: ["competition": "\(id)", "entries": "\(c.standings.count)", "prizes": "\(results.count - 1)"])
            clockRaised += results
            competitionsDirty.insert(id)
        }
        try await commit()
        await publishCompetitions(force: true)
    }

    /// Publishes the boards of changed competitions whose interval has passed.
    func publishCompetitions(force: Bool = false) async {
        guard !competitionsDirty.isEmpty else { return }
        let now = Clock.nowMillis()
        var messages: [Publisher.Message] = []
        for id in competitionsDirty.sorted() {
            guard force || now - (competitionPublishedAt[id] ?? .min / 2) >= config.publishIntervalMillis else { continue }
            competitionsDirty.remove(id)
            competitionPublishedAt[id] = now
            guard let c = competitions.all[id] else { continue }
            messages.append(Publisher.Message(topic: "competition.\(id)", members: Self.board(c, user: nil, limit: 10).members))
        }
        if !messages.isEmpty { await publisher.publish(messages) }
    }

    /// A user's gear (``TrainingStage/gear``).
    func gearOf(_ user: String) -> [GearBook.Item] { gear.gear(of: user) }

    /// The `competition` reply: its board (top `limit`), progress and state.
    func competitionReply(_ id: String, user: String?) -> CompetitionReply? {
        competitions.all[id].map { Self.board($0, user: user, limit: 100) }
    }

    static func board(_ c: Competition, user: String?, limit: Int) -> CompetitionReply {
        let entries = c.standings.top(limit).enumerated().map { i, e in
            CompetitionReply.Entry(rank: i + 1, user: e.user, value: published(e.value))
        }
        let mine = user.flatMap { u in c.standings.rank(of: u).map { CompetitionReply.Entry(rank: $0.rank, user: u, value: published($0.entry.value)) } }
        let scope: String
        switch c.scope {
        case .everyone: scope = "everyone"
        case .group(let g): scope = "group:\(g)"
        case .region(let r): scope = "region:\(r)"
        }
        return CompetitionReply(
            competition: c.id, title: c.title, goal: c.goal.rawValue, metric: c.metric.rawValue, scope: scope, start: Int(c.start), end: Int(c.end),
            finalAt: Int(c.finalAt), ranked: c.standings.count, entries: entries, user: mine, progress: c.progress.map(published), target: c.target,
            final: c.final, prizes: c.prizes.map { .init(from: $0.ranks.lowerBound, to: $0.ranks.upperBound, points: $0.points) })
    }
}
