import ClubDaemon
import Definitions
import Testing

/// The `history.*` keys: their defaults, `forever`, durations, and mistakes located in the file.
@Suite struct HistoryConfigTests {
    func parse(_ text: String) throws -> ClubConfig {
        var mapping = try YAMLMapping.parse(text, file: "clubd.yaml").get()
        return try ClubConfig.parse(&mapping)
    }

    @Test func defaultsForeverAndDurations() throws {
        let defaults = try parse("log: {level: info}\n")
        #expect(defaults.historyEnabled && defaults.history.samplesFor == 30 * 86_400_000 && defaults.history.daysFor == nil)
        let set = try parse("history: {samples_for: forever, minutes_for: 10d, days_for: 3650d, allowed_lateness: 1m}\n")
        #expect(set.history.samplesFor == nil && set.history.minutesFor == 10 * 86_400_000 && set.history.daysFor == 3650 * 86_400_000)
        #expect(set.history.allowedLateness == 60_000 && set.history.minutesFor != defaults.history.minutesFor)
        #expect(try parse("history: {enabled: false}\n").historyEnabled == false)
    }

    @Test func mistakesAreLocated() {
        do {
            _ = try parse("history:\n  samples_for: 0s\n  minutes_for: sometimes\n  hourly: true\n")
            Issue.record("a bad history section was accepted")
        } catch let errors as DefinitionErrors {
            let text = "\(errors)"
            #expect(errors.errors.count == 3, "\(text)")
            #expect(text.contains("clubd.yaml:2:") && text.contains("clubd.yaml:3:") && text.contains("hourly"), "\(text)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
