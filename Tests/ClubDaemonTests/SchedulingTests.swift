import ClubTestKit
import Foundation
import JSON
import Testing
import ZMQ

/// The command socket's threads run under `SCHED_FIFO` where the system allows it, so that
/// queries are answered at once while bulk work keeps every core busy.
@Suite(.serialized) struct SchedulingTests {
    /// `(name, policy, real-time priority)` of every thread of a process, from /proc.
    static func threads(of pid: Int32) throws -> [(name: String, policy: Int, priority: Int)] {
        let tasks = "/proc/\(pid)/task"
        return try FileManager.default.contentsOfDirectory(atPath: tasks).compactMap { tid in
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(tid)/stat", encoding: .utf8),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { return nil }
            // After the name in parentheses come fields 3…; rt_priority is field 40, policy 41.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 38, let priority = Int(fields[37]), let policy = Int(fields[38]) else { return nil }
            return (String(stat[stat.index(after: open)..<close]), policy, priority)
        }
    }

    static let fifo = 1  // SCHED_FIFO

    @Test func commandSocketThreadsRunRealTimeWhereAllowed() throws {
        let daemon = try DaemonProcess(pipelines: ["minute.yaml": DaemonProcess.minutePipeline])
        try daemon.start()
        defer { daemon.terminate() }
        let realtime = try Self.threads(of: daemon.processIdentifier!).filter { $0.policy == Self.fifo }
        if RealtimeScheduling.isPermitted(priority: 10) {
            // The command thread, and the I/O and reaper threads of the command socket's context.
            #expect(realtime.count == 3, "\(realtime)")
            #expect(realtime.allSatisfy { $0.priority == 10 })
            #expect(realtime.contains { $0.name == "ZMQbg/IO/0" })
        } else {
            #expect(realtime.isEmpty)
            #expect(daemon.log.contains("real-time priority refused"))
        }
        // Everything else keeps normal scheduling, and the daemon answers.
        #expect(try Self.threads(of: daemon.processIdentifier!).count > realtime.count + 3)
        #expect(try daemon.request(["op": "health"])["ok"] == true)
    }

    @Test func realtimePriorityZeroKeepsNormalScheduling() throws {
        let daemon = try DaemonProcess(pipelines: ["minute.yaml": DaemonProcess.minutePipeline])
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "command:\n  realtime_priority: 0\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path])
        defer { daemon.terminate() }
        #expect(try Self.threads(of: daemon.processIdentifier!).allSatisfy { $0.policy != Self.fifo })
        #expect(try daemon.request(["op": "health"])["ok"] == true)
    }

    @Test func anOutOfRangePriorityIsAConfigurationError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-sched-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("clubd.yaml")
        try "command:\n  realtime_priority: 100\n".write(to: config, atomically: true, encoding: .utf8)
        let (status, output) = try DaemonProcess.checkConfig(["--config", config.path])
        #expect(status == 78)
        #expect(output.contains("clubd.yaml:2:"), "\(output)")
        #expect(output.contains("realtime_priority"), "\(output)")
    }
}
