import ClubKernel
import ClubProtocol
import ClubRuntime
import Definitions
import JSON
import Offers
import Pipeline

/// The Offers subsystem's ops: `offers` and `offers.preview`.
extension CommandHandler {
    /// The offers valid now for a user: targeted at them, for their region, and general.
    func offers(_ request: OffersRequest) async -> [UInt8] {
        let user = request.user
        let offers: [[UInt8]]
        do {
            offers = try await runtime.validOffers(for: user)
        } catch {
            return CommandError("storage_failed", "cannot read offers: \(error)").reply
        }
        return ok { w in
            w.member("user", user)
            w.key("offers")
            w.beginArray()
            for members in offers {
                w.beginObject()
                w.raw(members)
                w.endObject()
            }
            w.endArray()
        }
    }

    /// What a rule file would do over recorded history (`rules`: the file's YAML text;
    /// `since`: a duration back from now such as `30d`, or epoch milliseconds).
    func previewOffers(_ request: JSONObject) async -> [UInt8] {
        guard let text = request["rules"]?.stringValue else {
            return CommandError("missing_field", "missing required field 'rules' (the YAML text of an offer rules file)").reply
        }
        let now = Clock.nowMillis()
        var since = now - 30 * 86_400_000
        if let value = request["since"] {
            if let ms = value.int64Value {
                since = ms
            } else if let duration = value.stringValue.flatMap(YAMLMapping.parseDuration) {
                since = now - duration
            } else {
                return CommandError("wrong_type", "field 'since' must be a duration such as 30d or epoch milliseconds").reply
            }
        }
        let rules: OfferRules
        do {
            rules = try OfferRules.parse(text, file: request["file"]?.stringValue ?? "<preview>")
        } catch {
            return CommandError("invalid_definitions", "\(error)").reply
        }
        do {
            let preview = try await runtime.previewOffers(rules, since: since, now: now)
            return ok { w in
                w.member("since", Int(since))
                w.raw(preview.members)
            }
        } catch {
            return CommandError("storage_failed", "cannot replay the activity log: \(error)").reply
        }
    }
}
