import Foundation
import JSON
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The shop's HTTP API as the adapter uses it: members read in pages after a cursor, offers and
/// ledger entries delivered one by one with an `Idempotency-Key`. What fails for now throws; the
/// adapter's loops retry it with exponential back-off.
public struct ShopClient: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// 2xx (or 409: the shop had it already).
        case delivered
        /// A 4xx other than 408, 409 and 429: the shop will never take it.
        case refused(status: Int)
    }

    let base: URL
    let config: ShopAdapterConfig
    let token: String?
    let session: URLSession

    public init(config: ShopAdapterConfig) throws {
        guard let base = URL(string: config.shopURL) else { throw AdapterError("shop.url is not a URL: \(config.shopURL)") }
        self.base = base
        self.config = config
        if config.tokenFile.isEmpty {
            token = nil
        } else {
            guard let data = FileManager.default.contents(atPath: config.tokenFile) else {
                throw AdapterError("cannot read shop.token_file \(config.tokenFile)")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = Double(config.requestTimeoutMillis) / 1000
        session = URLSession(configuration: configuration)
    }

    /// One page of members after `cursor`: the records as the shop sent them and the next cursor.
    public func members(after cursor: String?) async throws -> (members: [JSONValue], next: String?) {
        var components = URLComponents(url: base.appendingPathComponent(config.membersPath), resolvingAgainstBaseURL: false)!
        components.queryItems = [URLQueryItem(name: "limit", value: "\(config.membersPageSize)")]
            + (cursor.map { [URLQueryItem(name: "after", value: $0)] } ?? [])
        let (body, status) = try await send(request(components.url!, method: "GET"))
        guard (200..<300).contains(status) else { throw AdapterError("GET \(config.membersPath): HTTP \(status)") }
        let page = try JSONValue.parse(Array(body))
        guard let members = page["members"]?.arrayValue else { throw AdapterError("GET \(config.membersPath): no 'members' list") }
        return (members, page["next"]?.stringValue ?? page["next"].map { $0.jsonText })
    }

    /// Delivers one JSON object to `path`.
    /// - Returns: delivered, or refused for good (a 4xx other than 408, 409 and 429).
    /// - Throws: when the shop is unreachable or answers 5xx, 408 or 429: the adapter's loop
    ///   tries the same delivery again with back-off (its position has not moved).
    public func deliver(_ body: [UInt8], to path: String, key: String) async throws -> Outcome {
        var request = request(base.appendingPathComponent(path), method: "POST")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(key, forHTTPHeaderField: "Idempotency-Key")
        request.httpBody = Data(body)
        let (_, status) = try await send(request)
        switch status {
        case 200..<300, 409: return .delivered
        case 408, 429, 500...: throw AdapterError("POST \(path) \(key): HTTP \(status)")
        default: return .refused(status: status)
        }
    }

    private func request(_ url: URL, method: String) -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = Double(config.requestTimeoutMillis) / 1000
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return request
    }

    private func send(_ request: URLRequest) async throws -> (Data, Int) {
        let (data, response) = try await session.data(for: request)
        return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
    }
}

/// Something the adapter cannot do (now): the loops log it and try again with back-off; at
/// start-up it ends the process.
public struct AdapterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
