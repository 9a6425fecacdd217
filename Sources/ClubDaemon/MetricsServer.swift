import Foundation
import Logging
import Prometheus

/// A minimal HTTP/1.0 listener serving the Prometheus text format on `GET /metrics`,
/// on a dedicated thread. Opt-in and meant for loopback.
final class MetricsServer: @unchecked Sendable {
    // @unchecked: `listener` is only used by the accept thread after `start()`; `stopped`
    // is written once before the descriptor is shut down.
    private let registry: PrometheusCollectorRegistry
    private let listener: Int32
    private let logger: Logger

    /// Parses `host:port` into an IPv4 address and port.
    static func parse(listen: String) -> (host: String, port: UInt16)? {
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        var address = in_addr()
        guard inet_pton(AF_INET, String(parts[0]), &address) == 1 else { return nil }
        return (String(parts[0]), port)
    }

    init(listen: String, registry: PrometheusCollectorRegistry, logger: Logger) throws {
        guard let (host, port) = Self.parse(listen: listen) else { throw POSIXError(.EINVAL) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EADDRINUSE)
        }
        listener = fd
        self.registry = registry
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "clubd-metrics"
        thread.start()
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            var request = [UInt8](repeating: 0, count: 2048)
            let n = read(client, &request, request.count)
            let firstLine = n > 0 ? String(decoding: request[..<n], as: UTF8.self).prefix { $0 != "\r" && $0 != "\n" } : ""
            var body: [UInt8] = []
            let status: String
            if firstLine.hasPrefix("GET /metrics") {
                registry.emit(into: &body)
                status = "200 OK"
            } else {
                body = Array("only GET /metrics is served\n".utf8)
                status = "404 Not Found"
            }
            let head = "HTTP/1.0 \(status)\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            let response = Array(head.utf8) + body
            _ = response.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            close(client)
        }
    }
}
