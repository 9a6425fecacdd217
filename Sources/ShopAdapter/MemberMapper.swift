import JSON

/// Turns the shop's member records into the club's `profile` and `connection` events, keeping
/// only the opaque member id and coarse fields — region, interests, consent flags — and dropping
/// everything else the shop sends (names, e-mails, phones, addresses, birthdays …) unread. Pure.
public enum MemberMapper {
    /// Why a member record was not turned into events.
    public struct Skipped: Error, Sendable, Equatable {
        public var reason: String
    }

    /// The events of one member record: a `profile` and one `connection` per consent flag.
    /// Their ids follow from the member, the record's `updated_at` and the content, so reading
    /// the same record again makes duplicates, and a change makes new events.
    public static func events(of member: JSONValue) -> Result<[JSONValue], Skipped> {
        guard case .object(let record) = member else { return .failure(Skipped(reason: "a member record is not an object")) }
        guard let id = record["id"]?.stringValue, isOpaque(id) else {
            return .failure(Skipped(reason: "the member has no opaque 'id' (1–128 characters of letters, digits, - _ . : and no '@')"))
        }
        var profile = JSONObject()
        profile["type"] = "profile"
        profile["user"] = .string(id)
        if let region = record["region"]?.stringValue, !region.isEmpty, region.count <= 64 { profile["region"] = .string(region) }
        let interests = (record["interests"]?.arrayValue ?? []).compactMap(\.stringValue).filter { !$0.isEmpty && $0.count <= 64 }
        profile["interests"] = .array(interests.prefix(50).map(JSONValue.string))
        let version = record["updated_at"].map { $0.stringValue ?? $0.jsonText } ?? ""
        profile["id"] = .string("shop-profile:\(id):\(version):\(digest(JSONValue.object(profile).serialized()))")
        var events: [JSONValue] = [.object(profile)]
        if case .object(let consents)? = record["consents"] {
            for system in consents.keys.sorted() where isOpaque(system) && system.count <= 64 {
                guard let granted = consents[system]?.boolValue else { continue }
                let state = granted ? "active" : "revoked"
                var connection = JSONObject()
                connection["type"] = "connection"
                connection["id"] = .string("shop-consent:\(id):\(system):\(state):\(version)")
                connection["user"] = .string(id)
                connection["system"] = .string(system)
                connection["state"] = .string(state)
                events.append(.object(connection))
            }
        }
        return .success(events)
    }

    /// An id the club may store: short, of safe characters, not an e-mail address.
    static func isOpaque(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 95 || c == 46 || c == 58
            }
    }

    /// FNV-1a of `bytes`, 16 hex digits: a short stable digest for event ids.
    static func digest(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            hash ^= UInt64(b)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
