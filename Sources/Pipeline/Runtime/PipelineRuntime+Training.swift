import ClubKernel
import ClubProtocol
import Events
import Training

/// The Training subsystem's part of the runtime: enrolments checked against the catalogue
/// before they reach the log, and the catalogue and progress queries.
extension PipelineRuntime {
    /// Refuses `programme.*` events naming a programme the catalogue does not hold
    /// (`unknown_programme`), as ingest and `submit` take them: a member cannot enrol in
    /// what does not exist, and learns it in the reply instead of later on `rejected`.
    nonisolated func screen(_ decoded: inout DecodedEvents) {
        guard decoded.events.contains(where: { $0.type.hasPrefix("programme.") }) else { return }
        let catalogue = self.catalogue.withLock { $0 }
        decoded.events.removeAll { event in
            guard event.type.hasPrefix("programme."), let id = event.body["programme"]?.stringValue,
                catalogue.programme(id) == nil
            else { return false }
            decoded.rejections.append(
                Rejection(
                    .unknownProgramme, "no programme '\(id.prefix(64))' in the training catalogue (see the 'programmes' op)",
                    index: event.index, excerpt: Rejection.excerpt(of: event.json)))
            return true
        }
    }

    /// The catalogue as the last (re)load gave it.
    public nonisolated var currentCatalogue: Catalogue { catalogue.withLock { $0 } }

    /// A user's gear, as far as the training stage has applied the log.
    public func gear(of user: String) async -> [GearBook.Item] { await training.gearOf(user) }

    /// A competition's board, as far as the training stage has applied the log.
    public func competition(_ id: String, user: String?) async -> CompetitionReply? { await training.competitionReply(id, user: user) }

    /// A user's enrolments and steps, as far as the training stage has processed the log.
    public func progress(of user: String) async -> ProgressReply { await training.progressReply(of: user) }
}
