import FlyingFox
import Foundation
import JSON

/// A shop for the adapter to talk to — in tests, demos and load runs: members with every kind of
/// personal data a real shop keeps, in pages after a cursor, and the two delivery endpoints,
/// which keep what they received by idempotency key and can be taken down (503) to play an
/// outage. `GET /test/state` tells what arrived; `POST /test/down` and `/test/up` switch.
actor SimulatedShop {
    let members: [String]
    private let server: HTTPServer
    private var down = false
    /// Deliveries by idempotency key: path and body (the first one that was accepted).
    private var received: [String: (path: String, body: JSON.JSONValue)] = [:]
    /// Every accepted POST, duplicates included.
    private var accepted = 0
    private var refusedWhileDown = 0

    init(port: UInt16, members count: Int) throws {
        // Its own log off: standard output carries the one `listening` line a caller waits for.
        server = HTTPServer(address: try .inet(ip4: "127.0.0.1", port: port), logger: .disabled)
        members = (1...max(1, count)).map { n in
            """
            {"id":"m-\(n)","first_name":"Firstname\(n)","last_name":"Lastname\(n)","name":"Fullname Person\(n)",\
            "email":"person\(n)@example.com","phone":"+7 900 555 \(String(format: "%04d", n))",\
            "address":{"street":"\(n) Secret Street","city":"Hiddentown","zip":"\(String(format: "%05d", n))"},\
            "birthday":"1990-01-\(String(format: "%02d", n % 28 + 1))",\
            "region":"\(n % 2 == 0 ? "RU-MOW" : "RU-SPE")","interests":["running","yoga"],\
            "consents":{"garmin":\(n % 3 != 0),"strava":false},"updated_at":\(1_764_000_000_000 + Int64(n))}
            """
        }
    }

    /// Serves until cancelled; `ready` gets the address it listens on.
    func run(ready: @Sendable (String) -> Void) async throws {
        await server.appendRoute("GET /club/members") { request in await self.page(request) }
        await server.appendRoute("POST /club/*") { request in await self.delivery(request) }
        await server.appendRoute("GET /test/state") { _ in await self.state() }
        await server.appendRoute("POST /test/down") { _ in await self.set(down: true) }
        await server.appendRoute("POST /test/up") { _ in await self.set(down: false) }
        async let serving: Void = server.run()
        try await server.waitUntilListening()
        guard case .ip4(_, let port)? = await server.listeningAddress else { throw SimulatorError("no listening address") }
        ready("http://127.0.0.1:\(port)")
        try await serving
    }

    private func set(down: Bool) -> HTTPResponse {
        self.down = down
        return HTTPResponse(statusCode: .ok)
    }

    private func page(_ request: HTTPRequest) -> HTTPResponse {
        if down { return HTTPResponse(statusCode: .serviceUnavailable) }
        let after = Int(request.query["after"] ?? "") ?? 0
        let limit = Int(request.query["limit"] ?? "") ?? 100
        let page = Array(members.dropFirst(after).prefix(min(limit, 5)))  // pages of at most 5
        let body = #"{"members":[\#(page.joined(separator: ","))],"next":"\#(after + page.count)"}"#
        return HTTPResponse(statusCode: .ok, body: Data(body.utf8))
    }

    private func delivery(_ request: HTTPRequest) async -> HTTPResponse {
        if down {
            refusedWhileDown += 1
            return HTTPResponse(statusCode: .serviceUnavailable)
        }
        guard let key = request.headers[HTTPHeader("Idempotency-Key")], let data = try? await request.bodyData,
            let body = try? JSON.JSONValue.parse(Array(data))
        else { return HTTPResponse(statusCode: .badRequest) }
        accepted += 1
        if received[key] == nil { received[key] = (request.path, body) }
        return HTTPResponse(statusCode: .ok)
    }

    /// `{"accepted", "refused_while_down", "down", "received": {key: {"path", "body"}}}`.
    private func state() -> HTTPResponse {
        var w = JSONWriter()
        w.beginObject()
        w.member("accepted", accepted)
        w.member("refused_while_down", refusedWhileDown)
        w.member("down", down)
        w.key("received")
        w.beginObject()
        for (key, delivery) in received.sorted(by: { $0.key < $1.key }) {
            w.key(key)
            w.beginObject()
            w.member("path", delivery.path)
            w.key("body")
            w.value(delivery.body)
            w.endObject()
        }
        w.endObject()
        w.endObject()
        return HTTPResponse(statusCode: .ok, body: Data(w.bytes))
    }
}

struct SimulatorError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
