import ArgumentParser
import Foundation
import Simulation
import ZMQ

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push a simulated device fleet: GPS tracks, heart rate, cumulative distance, sessions, network faults.")
    @OptionGroup var endpoints: Endpoints
    @Option(help: "Users (one device each).") var users = 100
    @Option(help: "Samples to send in all.") var events = 10_000
    @Option(help: "Target samples per second; 0 sends flat out.") var rate = 1_000
    @Option(help: "Share of samples lost (0...1).") var loss = 0.0
    @Option(help: "Share of samples sent twice.") var duplicate = 0.0
    @Option(help: "Share of samples sent out of order.") var reorder = 0.0
    @Option(help: "Event time of the first sample, epoch ms (default: now).") var start: Int64?
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func run() throws {
        var options = FleetSimulator.Options()
        options.users = users
        options.lossRate = loss
        options.duplicateRate = duplicate
        options.reorderRate = reorder
        options.seed = seed
        // Event time ends near now, so no sample is refused as future.
        let rounds = Int64((events + users - 1) / max(users, 1))
        options.startTs = start ?? Int64(Date().timeIntervalSince1970 * 1000) - rounds * options.sampleInterval
        var fleet = FleetSimulator(options: options)
        let push = try endpoints.socket(.push, endpoints.ingest, linger: 10_000)
        let began = Date()
        var sent = 0
        let progress = ProgressLine("simulating samples", total: events)
        for i in 0..<events {
            if i % 100 == 0 { progress.update(i) }
            for frame in fleet.nextFrames() {
                try push.send(frame)
                sent += 1
            }
            if rate > 0, i % 100 == 99 {
                let due = began.addingTimeInterval(Double(i + 1) / Double(rate))
                let wait = due.timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
        }
        progress.finish()
        for frame in fleet.flush() { try push.send(frame) }
        push.close()
        let seconds = Date().timeIntervalSince(began)
        print("sent \(sent) frames for \(events) samples in \(String(format: "%.2f", seconds)) s (\(Int(Double(sent) / seconds)) frames/s)")
    }
}
