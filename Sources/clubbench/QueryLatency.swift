import ClubClient
import Dispatch
import Foundation
import JSON
import Synchronization
import ZMQ

/// `leaderboard` query latency under load, beside a baseline measured at the same moments: the
/// same requests answered by a bare ROUTER echo in this process, scheduled like the daemon's
/// command socket. The echo costs nothing to answer, so its latency is the floor this machine
/// sets — loopback TCP, libzmq's I/O threads and waiting for a core — and clubd's latency above
/// it is clubd's own.
///
/// Two clients ask alternately clubd and the echo every 5 ms: one at normal priority, as any
/// client sharing the cores with the flood would, and one at real-time priority, so that its
/// own wait for a core (which in production happens on another machine) leaves the figure.
final class QueryLatency: Sendable {
    /// Latencies in milliseconds of one client, to clubd and to the echo.
    struct Series {
        var clubd: [Double] = []
        var echo: [Double] = []
    }

    static let realtimePriority: Int32 = 10
    private let echoEndpoint: String
    private let echoContext: ZMQContext
    private let echoStop = Mutex(false)
    private let echoDone = DispatchSemaphore(value: 0)
    private let results = Mutex<[Bool: Series]>([:])
    private let ranked = Mutex(0)
    /// Whether real-time scheduling is allowed here; without it the real-time client is skipped.
    var realtimePermitted: Bool { echoContext.realtimePriority != nil }

    init() throws {
        echoContext = ZMQContext(realtimePriority: Self.realtimePriority)
        let router = try ZMQSocket(context: echoContext, type: .router)
        try router.bind("tcp://127.0.0.1:*")
        echoEndpoint = router.lastEndpoint
        let thread = Thread { [self] in echo(router) }
        thread.start()
    }

    private func echo(_ router: ZMQSocket) {
        if realtimePermitted { RealtimeScheduling.applyToCurrentThread(priority: Self.realtimePriority) }
        var poller = ZMQPoller(reading: [router])
        while !echoStop.withLock({ $0 }) {
            guard (try? poller.poll(timeoutMilliseconds: 50)[0]) == true else { continue }
            while let frames = try? router.receiveMessage(wait: false) { _ = try? router.send(frames: frames, wait: false) }
        }
        router.close()
        echoDone.signal()
    }

    /// Queries until `done()`, from both clients.
    func run(daemon endpoint: String, done: @Sendable () -> Bool) {
        withoutActuallyEscaping(done) { done in
            let clients = DispatchGroup()
            for realtime in realtimePermitted ? [false, true] : [false] {
                clients.enter()
                Thread { [self] in
                    query(daemon: endpoint, realtime: realtime, done: done)
                    clients.leave()
                }.start()
            }
            clients.wait()
        }
    }

    private func query(daemon endpoint: String, realtime: Bool, done: () -> Bool) {
        if realtime { RealtimeScheduling.applyToCurrentThread(priority: Self.realtimePriority + 1) }
        let context = ZMQContext(realtimePriority: realtime ? Self.realtimePriority + 1 : nil)
        let clubd = CommandClient(context: context, endpoint: endpoint, timeout: 10_000, retries: 1)
        let echo = CommandClient(context: context, endpoint: echoEndpoint, timeout: 10_000, retries: 1)
        var series = Series()
        var n = 0
        while !done() {
            let board = ["week-distance", "day-distance", "week-workouts", "best-5k"][n / 2 % 4]
            let request: JSONValue = ["op": "leaderboard", "board": .string(board), "user": .string("u\(n % 1000)")]
            let start = DispatchTime.now()
            if n % 2 == 0 {
                let reply = try? clubd.request(request)
                series.clubd.append(start.elapsedSeconds * 1000)
                if board == "week-distance", let count = reply?["ranked"]?.int64Value { ranked.withLock { $0 = Int(count) } }
            } else {
                _ = try? echo.request(request)
                series.echo.append(start.elapsedSeconds * 1000)
            }
            n += 1
            Thread.sleep(forTimeInterval: 0.005)
        }
        results.withLock { all in
            all[realtime, default: Series()].clubd += series.clubd
            all[realtime, default: Series()].echo += series.echo
        }
    }

    /// Stops the echo.
    func stop() {
        echoStop.withLock { $0 = true }
        echoDone.wait()
    }

    /// Users ranked on week-distance when the last such query ran.
    var lastRanked: Int { ranked.withLock { $0 } }

    /// One line per client: percentiles of clubd and of the echo, and their ratio at p99.
    func report() -> [String] {
        results.withLock { all in
            [false, true].compactMap { realtime -> String? in
                guard let series = all[realtime], !series.clubd.isEmpty, !series.echo.isEmpty else { return nil }
                let clubd = series.clubd.sorted()
                let echo = series.echo.sorted()
                let p = { (values: [Double], q: Int) in values[values.count * q / 100] }
                return String(
                    format: "query     %@ client, %d queries: clubd p50 %.2f p99 %.2f max %.2f ms | echo baseline p50 %.2f p99 %.2f ms | p99 ratio %.2f",
                    realtime ? "real-time" : "normal   ", clubd.count, p(clubd, 50), p(clubd, 99), clubd.last!, p(echo, 50), p(echo, 99),
                    p(clubd, 99) / p(echo, 99))
            }
        }
    }
}
