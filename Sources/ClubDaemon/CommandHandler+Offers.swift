import ClubKernel
import ClubProtocol
import ClubRuntime
import Definitions
import JSON
import Offers
import Pipeline

/// The Offers subsystem's ops: `offers`, `offers.preview` and `offers.changes`.
extension CommandHandler {
    /// Every offer issued after a feed position, for a consumer that delivers them.
    func offerChanges(_ request: OfferChangesRequest) async -> [UInt8] {
        do {
            let changes = try await store.offerChanges(after: request.after, limit: request.limit)
            return OfferChangesReply(
                offers: changes.map { .init(feedSeq: $0.seq, offer: RawObject(members: $0.members)) }, next: changes.last?.seq ?? request.after
            ).bytes
        } catch {
            return CommandError("storage_failed", "cannot read offers: \(error)").reply
        }
    }

    /// The offers valid now for a user: targeted at them, for their region, and general.
    func offers(_ request: OffersRequest) async -> [UInt8] {
        let user = request.user
        let offers: [[UInt8]]
        do {
            offers = try await runtime.validOffers(for: user)
        } catch {
            return CommandError("storage_failed", "cannot read offers: \(error)").reply
        }
        return OffersReply(user: user, offers: offers.map(RawObject.init(members:))).bytes
    }

    /// What a rule file would do over recorded history (`rules`: the file's YAML text;
    /// `since`: a duration back from now such as `30d`, or epoch milliseconds).
    func previewOffers(_ request: OffersPreviewRequest) async -> [UInt8] {
        let now = Clock.nowMillis()
        var since = now - 30 * 86_400_000
        switch request.since {
        case nil: break
        case .millis(let ms): since = ms
        case .ago(let text):
            guard let duration = YAMLMapping.parseDuration(text) else {
                return CommandError("wrong_type", "field 'since' must be a duration such as 30d or epoch milliseconds").reply
            }
            since = now - duration
        }
        let rules: OfferRules
        do {
            rules = try OfferRules.parse(request.rules, file: request.file ?? "<preview>")
        } catch {
            return CommandError("invalid_definitions", "\(error)").reply
        }
        do {
            let preview = try await runtime.previewOffers(rules, since: since, now: now)
            return OffersPreviewReply(since: Int(since), preview: RawObject(members: preview.members)).bytes
        } catch {
            return CommandError("storage_failed", "cannot replay the activity log: \(error)").reply
        }
    }
}
