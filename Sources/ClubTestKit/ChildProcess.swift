import Foundation

/// One of the products built beside the tests (`clubd`, `club-shop-adapter` …) run as a child
/// process, its standard output and error appended to a log file across restarts.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: used by one test at a time.
    public let executable: String
    public let logFile: URL
    private var process: Process?

    public init(_ executable: String, log: URL) {
        self.executable = executable
        logFile = log
    }

    /// Everything it wrote, across restarts.
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    public var isRunning: Bool { process?.isRunning ?? false }
    public var processIdentifier: Int32? { process?.processIdentifier }

    /// Starts it with `arguments`.
    public func start(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = DaemonProcess.productsDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        if !FileManager.default.fileExists(atPath: logFile.path) { _ = FileManager.default.createFile(atPath: logFile.path, contents: nil) }
        let output = try FileHandle(forWritingTo: logFile)
        output.seekToEndOfFile()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        self.process = process
    }

    /// Sends SIGTERM and waits for the exit status (-1 when it was not running).
    @discardableResult
    public func terminate() -> Int32 {
        guard let process else { return -1 }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    /// Sends SIGKILL: no drain, no final save.
    public func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Sends `signal` (SIGSTOP, SIGCONT …) without waiting.
    public func signal(_ signal: Int32) {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, signal)
    }

    /// Waits up to `seconds` for it to exit by itself.
    /// - Returns: its exit status, or nil while it still runs.
    public func waitForExit(within seconds: TimeInterval) -> Int32? {
        guard let process else { return -1 }
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard !process.isRunning else { return nil }
        self.process = nil
        return process.terminationStatus
    }

    deinit {
        if let process, process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
