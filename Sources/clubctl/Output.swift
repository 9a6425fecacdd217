import ArgumentParser
import ClubProtocol
import Foundation
import JSON

/// How a command prints the daemon's reply: readable lines and tables for people, or the exact
/// JSON with `--json` (for scripts).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the daemon's exact JSON reply instead of a table.") var json = false

    /// Prints `reply`: an error as `error <code>: <message>` on standard error (exit status 1),
    /// else as `render` makes it of the typed reply, or as JSON with `--json`.
    func show<R: Reply>(_ reply: JSONValue, as type: R.Type, render: (R) -> String) throws {
        if json {
            print(reply.jsonText)
            if CommandError(reply: reply) != nil { throw ExitCode.failure }
            return
        }
        if let error = CommandError(reply: reply) {
            FileHandle.standardError.write(Data("error \(error.code): \(error.message)\n".utf8))
            throw ExitCode.failure
        }
        print(render(try R(reply: reply)))
    }
}

/// Columns aligned for a terminal: numbers to the right, text to the left.
struct Table {
    let header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }

    var text: String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        let numeric = header.indices.map { column in
            !rows.isEmpty && rows.allSatisfy { row in row.indices.contains(column) && Double(row[column].replacingOccurrences(of: ",", with: "")) != nil }
        }
        return all.map { row in
            row.indices.map { column in
                let cell = row[column]
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                // The last column is not padded on the right: no trailing blanks.
                return numeric[column] ? pad + cell : (column == row.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

enum Format {
    /// `2026-11-27 10:00:00Z` for epoch milliseconds; `-` for 0 (never).
    static func time(_ millis: Int) -> String {
        guard millis > 0 else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// `1h 02m 03s`, `4m 05s`, `12s`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s >= 3600 { return String(format: "%dh %02dm %02ds", s / 3600, s / 60 % 60, s % 60) }
        if s >= 60 { return String(format: "%dm %02ds", s / 60, s % 60) }
        return "\(s)s"
    }

    /// A value: whole numbers without decimals, others to a thousandth.
    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(format: "%.3f", v) }

    /// 1234567 → `1,234,567`.
    static func count(_ n: Int) -> String {
        let digits = String(abs(n))
        var grouped = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { grouped += "," }
            grouped.append(c)
        }
        return n < 0 ? "-" + grouped : grouped
    }
}

/// A progress line for long commands, on standard error and only on a terminal: redrawn at most
/// ten times a second, cleared at the end. Piped or redirected, it writes nothing.
final class ProgressLine {
    private let label: String
    private let total: Int
    private let began = Date()
    private var drawnAt = Date.distantPast
    private let enabled: Bool

    init(_ label: String, total: Int, enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    /// Shows that `done` of the total are done.
    func update(_ done: Int) {
        guard enabled, Date().timeIntervalSince(drawnAt) >= 0.1 else { return }
        drawnAt = Date()
        let seconds = max(Date().timeIntervalSince(began), 0.001)
        let percent = total > 0 ? " (\(done * 100 / total)%)" : ""
        let line = "\(label): \(Format.count(done))/\(Format.count(total))\(percent), \(Format.count(Int(Double(done) / seconds)))/s"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
    }

    /// Clears the line, so that the command's own output starts on a clean one.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
