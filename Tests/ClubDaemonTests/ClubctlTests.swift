import ClubTestKit
import Foundation
import JSON
import Testing
import ZMQ

/// `clubctl` against a real daemon: readable tables for people, the exact JSON with `--json`,
/// errors on standard error with a failing exit status.
@Suite(.serialized) struct ClubctlTests {
    static func clubctl(
        _ arguments: [String], daemon: DaemonProcess, environment: [String: String] = [:], executable: String = "clubctl",
        endpoints: Bool = true
    ) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = DaemonProcess.productsDirectory.appendingPathComponent(executable)
        process.arguments = arguments + (endpoints ? ["--command", daemon.command] : [])
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, out, err)
    }

    @Test func healthBalanceAndLedgerAreTablesForPeopleAndJSONForScripts() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeBonusRules("rules:\n  - {id: visit, on: club.visited, points: 5}\n")
        try daemon.start(extraArguments: flags)
        let events = (1...3).map { n in try! JSONValue.parse(#"{"type":"club.visited","id":"v\#(n)","user":"u-1"}"#) }
        #expect(try daemon.request(["op": "submit", "events": .array(events)])["accepted"] == 3)
        try daemon.waitForBonus(offset: 3)

        let health = try Self.clubctl(["health"], daemon: daemon)
        #expect(health.status == 0, "\(health.errors)")
        #expect(health.output.hasPrefix("clubd 0.1.0: ok, up "), "\(health.output)")
        let lines = health.output.split(separator: "\n")
        let header = try #require(lines.firstIndex { $0.hasPrefix("STAGE") })
        let stages = lines[(header + 1)...].map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(stages.map { String($0[0]) } == ["telemetry", "bonus", "activity-feed", "training", "offers", "community"])
        let bonus = try #require(stages.first { $0[0] == "bonus" })
        #expect(bonus[1] == "3" && bonus[2] == "0" && bonus[3] == "running")

        let json = try Self.clubctl(["health", "--json"], daemon: daemon)
        let parsed = try JSONValue.parse(Array(json.output.utf8))
        #expect(parsed["ok"] == .bool(true) && parsed["stages"]?["bonus"]?["offset"] == 3)

        let balance = try Self.clubctl(["balance", "u-1"], daemon: daemon)
        #expect(balance.output == "u-1: 15 points\n")
        let ledger = try Self.clubctl(["ledger", "u-1"], daemon: daemon)
        let rows = ledger.output.split(separator: "\n")
        #expect(rows.count == 4 && rows[0].hasPrefix("BOOKED"), "\(ledger.output)")
        #expect(rows.last?.contains("+5") == true && rows.last?.contains("15") == true && rows.last?.hasSuffix("v3") == true)

        let refused = try Self.clubctl(["ledger", ""], daemon: daemon)
        #expect(refused.status != 0)
        #expect(refused.errors.hasPrefix("error wrong_type: "), "\(refused.errors)")
        #expect(refused.output.isEmpty)
    }

    /// `clubctl offers <user>`: a table of the user's valid offers (a targeted one and a regional
    /// one), and the exact reply with `--json`.
    @Test func offersAreATableForPeople() throws {
        let daemon = try DaemonProcess()
        let flags = try daemon.writeOfferRules([
            "o.yaml": """
                offers:
                  - {id: visit, title: Visit, on: store.visited, offer: {text: "10% off shoes", discount_percent: 10, valid_for: 7d}, audience: user}
                  - {id: spb, title: SPb, on: club.joined, offer: {text: "300 off", discount_amount: 300, valid_for: 7d}, audience: {regions: [RU-SPE]}}
                """
        ])
        try daemon.start(extraArguments: flags)
        let events = [
            try JSONValue.parse(#"{"type":"profile","id":"p1","user":"u-1","region":"RU-SPE"}"#),
            try JSONValue.parse(#"{"type":"store.visited","id":"s1","user":"u-1"}"#),
            try JSONValue.parse(#"{"type":"club.joined","id":"j1","user":"u-1"}"#),
        ]
        #expect(try daemon.request(["op": "submit", "events": .array(events)])["accepted"] == 3)
        try daemon.waitForOffers(offset: 3)
        let table = try Self.clubctl(["offers", "u-1"], daemon: daemon)
        let rows = table.output.split(separator: "\n")
        #expect(table.status == 0 && rows.count == 3 && rows[0].hasPrefix("CODE"), "\(table.output)")
        #expect(rows.contains { $0.contains("you") && $0.contains("visit") && $0.contains("10 %") && $0.hasSuffix("10% off shoes") })
        #expect(rows.contains { $0.contains("RU-SPE") && $0.contains("300 off") })
        let json = try JSONValue.parse(Array(try Self.clubctl(["offers", "u-1", "--json"], daemon: daemon).output.utf8))
        #expect(json["offers"]?.arrayValue?.count == 2)
        #expect(try Self.clubctl(["offers", "nobody"], daemon: daemon).output == "nobody: no valid offers\n")
    }

    /// The key tools against a daemon in curve mode: `clubctl keygen` makes the admin's key,
    /// `clubd --print-public-key` tells clients the server's; clubctl authenticates with flags or
    /// with the environment, and gets nothing without a key.
    /// `clubctl history` at each resolution, `clubctl stats` (the same minutes as windows) and
    /// `clubctl snapshot`.
    @Test func historyPrintsSamplesMinutesAndDays() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        var t0 = (Int64(Date().timeIntervalSince1970 * 1000) / 60_000 - 10) * 60_000
        if t0 / 86_400_000 != (t0 + 120_000) / 86_400_000 { t0 -= 180_000 }  // two minutes of one UTC day
        let events = (0..<24).map { i in
            try! JSONValue.parse(
                #"{"type":"telemetry","user":"h-9","device":"w","session":"s","ts":\#(t0 + Int64(i) * 5_000),"distance_m":\#(Double(i) * 12.5),"hr":\#(130 + i)}"#)
        }
        #expect(try daemon.request(["op": "submit", "events": .array(events)])["accepted"] == 24)
        try daemon.waitFor("samples_processed", 24)
        let minutes = try Self.clubctl(["history", "h-9"], daemon: daemon)
        #expect(minutes.status == 0, "\(minutes.errors)")
        #expect(minutes.output.contains("MINUTE") && minutes.output.contains("      12  0.138"), "\(minutes.output)")  // 0…137.5 m, then 150…287.5 m
        let days = try Self.clubctl(["history", "h-9", "--resolution", "day"], daemon: daemon)
        #expect(days.output.contains("DAY (UTC)") && days.output.contains("      24  0.287"), "\(days.output)")
        let samples = try Self.clubctl(["history", "h-9", "--resolution", "sample", "--limit", "5", "--json"], daemon: daemon)
        let reply = try JSONValue.parse(Array(samples.output.utf8))
        #expect(reply["points"]?.arrayValue?.count == 5 && reply["truncated"] == true, "\(samples.output)")
        let stats = try Self.clubctl(["stats", "h-9"], daemon: daemon)
        #expect(stats.output.contains("PIPELINE") && stats.output.contains("tumbling") && stats.output.contains("      12  0.138"), "\(stats.output)")
        let snapshot = try Self.clubctl(["snapshot"], daemon: daemon)
        #expect(snapshot.status == 0 && snapshot.output.hasPrefix("snapshot taken at"), "\(snapshot.output)")
        let bad = try Self.clubctl(["history", "h-9", "--resolution", "hour"], daemon: daemon)
        #expect(bad.status != 0 && (bad.errors + bad.output).contains("unknown_resolution"), "\(bad.errors)")
        daemon.terminate()
    }

    @Test func keygenAndClientKeysReachACurveDaemon() throws {
        let daemon = try DaemonProcess()
        let keyFile = daemon.directory.appendingPathComponent("ops.key").path
        let generated = try Self.clubctl(["keygen", "--secret-file", keyFile], daemon: daemon, endpoints: false)
        let adminKey = generated.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(generated.status == 0 && adminKey.count == 40, "\(generated)")
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let pair = try Self.clubctl(["keygen"], daemon: daemon, endpoints: false).output.split(separator: "\n")
        #expect(pair.count == 2 && pair[0].hasPrefix("public_key: ") && pair[1].hasPrefix("secret_key: "))
        let serverSecret = String(pair[1].dropFirst("secret_key: ".count))
        let serverKeyFile = daemon.directory.appendingPathComponent("server.key")
        try serverSecret.write(to: serverKeyFile, atomically: true, encoding: .utf8)
        let config = daemon.directory.appendingPathComponent("curve.yaml")
        try """
            security:
              mode: curve
              secret_key_file: \(serverKeyFile.path)
              admins: [{name: ops, public_key: "\(adminKey)"}]
            """.write(to: config, atomically: true, encoding: .utf8)
        let printed = try Self.clubctl(["--config", config.path, "--print-public-key"], daemon: daemon, executable: "clubd", endpoints: false)
        let serverKey = printed.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(serverKey == String(pair[0].dropFirst("public_key: ".count)), "\(printed)")
        let secret = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        daemon.curve = CurveClientKeys(serverKey: serverKey, secretKey: secret)
        try daemon.start(extraArguments: ["--config", config.path])

        let withFlags = try Self.clubctl(["health", "--server-key=\(serverKey)", "--key-file", keyFile], daemon: daemon)
        #expect(withFlags.status == 0 && withFlags.output.hasPrefix("clubd 0.1.0: ok"), "\(withFlags)")
        let withEnvironment = try Self.clubctl(["health"], daemon: daemon, environment: ["CLUB_SERVER_KEY": serverKey, "CLUB_KEY_FILE": keyFile])
        #expect(withEnvironment.status == 0 && withEnvironment.output.hasPrefix("clubd 0.1.0: ok"), "\(withEnvironment)")
        let without = try Self.clubctl(["health", "--timeout", "500", "--retries", "1"], daemon: daemon)
        #expect(without.status != 0 && without.errors.contains("no reply"), "\(without)")
        let half = try Self.clubctl(["health", "--server-key=\(serverKey)"], daemon: daemon)
        #expect(half.status != 0 && half.errors.contains("needs both"), "\(half)")
    }

    @Test func importAndWorkoutsPrintOneLineAFileAndATable() throws {
        let daemon = try DaemonProcess()
        try daemon.start()
        let connection = try JSONValue.parse(#"{"type":"connection","id":"c-1","user":"u-1","system":"garmin","state":"active"}"#)
        #expect(try daemon.request(["op": "submit", "events": [connection]])["accepted"] == 1)
        let file = daemon.directory.appendingPathComponent("ride.gpx")
        try Data(LargeImportTests.gpx(bytes: 200_000)).write(to: file)

        let imported = try Self.clubctl(["import", file.path, "--user", "u-1", "--system", "garmin"], daemon: daemon)
        #expect(imported.status == 0, "\(imported.errors)")
        #expect(imported.output.hasPrefix("\(file.path): ") && imported.output.contains(" km in "), "\(imported.output)")
        #expect(imported.errors.isEmpty, "no progress line when standard error is not a terminal")
        let again = try Self.clubctl(["import", file.path, "--user", "u-1", "--system", "garmin", "--json"], daemon: daemon)
        #expect(try JSONValue.parse(Array(again.output.utf8))["workouts"]?.arrayValue?.first?["duplicate"] == .bool(true))

        let workouts = try Self.clubctl(["workouts", "u-1"], daemon: daemon)
        let rows = workouts.output.split(separator: "\n")
        #expect(rows.count == 2 && rows[0].hasPrefix("START"), "\(workouts.output)")
        #expect(rows[1].contains("garmin") && rows[1].contains("yes"))

        let refused = try Self.clubctl(["import", file.path, "--user", "u-2", "--system", "garmin"], daemon: daemon)
        #expect(refused.status != 0 && refused.errors.contains("error no_consent: "), "\(refused.errors)")
    }
}
