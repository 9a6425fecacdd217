import ClubKernel
import Events
import Foundation
import Storage
import Testing
import Users

/// Storage stays bounded by the history's retentions: two months of a small fleet's
/// workouts, recorded, sealed and saved as the daemon does (a batch with every snapshot) into
/// a real SQLite file, with the retention deleting in bounded steps as simulated days pass.
@Suite struct HistoryRetentionTests {
    static let day: Int64 = 86_400_000
    static let users = 8
    static let days = 60
    /// A 45-minute workout a day, one sample every 2 s, with values as a watch reports them
    /// (decimal fractions of metres and degrees).
    static let samplesPerWorkout = 45 * 30
    /// A snapshot every 3 minutes of the workout.
    static let samplesPerSnapshot = 90

    @Test func twoSimulatedMonthsStayUnderTheBoundTheRetentionsGive() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clubd-history-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ClubStore(path: directory.appendingPathComponent("clubd.sqlite").path)
        var settings = HistorySettings()
        settings.samplesFor = 30 * Self.day
        var recorder = HistoryRecorder(settings: settings)

        let firstDay: Int64 = 1_790_000_000_000 / Self.day * Self.day
        var rawBytesWritten = 0
        var samplesWritten = 0
        var chunksWritten = 0
        var deleted = 0
        var largest = (allocated: 0, used: 0)
        var bound = 0
        var unretained = 0
        var sizeAtRetentionStart = 0
        var rollupsAtRetentionStart = 0
        var rollupBytes = 0
        for d in 0..<Self.days {
            let workoutStart = firstDay + Int64(d) * Self.day + 7 * 3_600_000
            for slice in stride(from: 0, to: Self.samplesPerWorkout, by: Self.samplesPerSnapshot) {
                var batch: [TelemetrySample] = []
                for u in 0..<Self.users {
                    for i in slice..<slice + Self.samplesPerSnapshot {
                        let ts = workoutStart + Int64(i) * 2_000
                        batch.append(
                            TelemetrySample(
                                user: "u-\(u)", device: "watch-\(u)", session: "d\(d)", ts: ts, sport: "run", distance: (Double(i) * 56).rounded() / 10,
                                heartRate: Double(120 + i % 50), speed: 2.8, latitude: ((55.75 + Double(i) * 1e-5) * 1e6).rounded() / 1e6,
                                longitude: 37.61))
                    }
                }
                let now = batch.last!.ts
                recorder.record(batch, now: now)
                let batches = recorder.seal(now: now)
                for b in batches {
                    rawBytesWritten += b.chunks.reduce(0) { $0 + $1.chunk.bytes.count }
                    samplesWritten += b.chunks.reduce(0) { $0 + $1.chunk.count }
                    chunksWritten += b.chunks.count
                }
                try await store.save(StateSnapshot(parts: ["history": recorder.snapshot()], journalPosition: 0, takenAt: now), history: batches)
                recorder.confirm(through: batches.last!.generation)
            }
            // The retention task at the day's end, in steps of 500 rows.
            let now = firstDay + Int64(d + 1) * Self.day
            while true {
                let n = try await store.deleteHistory(
                    samplesBefore: now - settings.samplesFor!, minutesBefore: now - settings.minutesFor!, daysBefore: nil, limit: 500)
                deleted += n
                if n < 500 { break }
            }
            let size = try store.databaseSize()
            largest = (max(largest.allocated, size.allocated), max(largest.used, size.used))
            // The bound the retentions give: the chunks of the 30 days kept plus the day being
            // written — as many to a 4 KiB page as fit whole (SQLite keeps a row of up to a page
            // on one leaf) — with two index entries each, every minute and day so far (kept a
            // year and forever: a row and an index entry each), a quarter more for B-tree pages
            // split or emptied by deletions, and 256 KiB for the schema and the snapshot.
            let keptDays = min(d + 1, 31)
            let keptChunks = keptDays * Self.users * (Self.samplesPerWorkout / Self.samplesPerSnapshot)
            let averageChunk = rawBytesWritten / chunksWritten
            let chunksPerPage = max(1, (4096 - 100) / (averageChunk + 48))
            let chunkBytes = (keptChunks + chunksPerPage - 1) / chunksPerPage * 4096 + keptChunks * 2 * 48
            rollupBytes = ((d + 1) * Self.users * 45 + (d + 1) * Self.users) * 2 * 90
            bound = (chunkBytes + rollupBytes) * 5 / 4 + 256 << 10
            let allChunks = (d + 1) * Self.users * (Self.samplesPerWorkout / Self.samplesPerSnapshot)
            unretained = (allChunks + chunksPerPage - 1) / chunksPerPage * 4096 + allChunks * 2 * 48 + rollupBytes
            if d == 30 {
                sizeAtRetentionStart = size.allocated
                rollupsAtRetentionStart = rollupBytes
            }
            #expect(size.allocated <= bound, "day \(d): \(size.allocated) bytes allocated, bound \(bound)")
        }
        let counts = try store.historyRowCounts()
        #expect(counts.samples == 30 * Self.users * Self.samplesPerWorkout, "exactly the last 30 days of samples are kept")
        #expect(counts.minutes == (Self.days * 45 - 1) * Self.users, "every minute of the quarter is kept but the last, still open")
        #expect(counts.days == Self.days * Self.users)
        #expect(samplesWritten == Self.days * Self.users * Self.samplesPerWorkout)
        #expect(deleted > 0)
        #expect(Double(rawBytesWritten) / Double(samplesWritten) < 14, "compact raw samples (5 numbers, as scaled deltas)")
        // Once the retention deletes, the file grows by the rollups alone: freed pages are reused.
        let growth = largest.allocated - sizeAtRetentionStart
        #expect(growth <= (rollupBytes - rollupsAtRetentionStart) * 5 / 4 + 1 << 20, "grew \(growth) bytes after day 30")
        // The bound bites: kept without retention, the same derivation gives far more.
        #expect(unretained > bound, "unretained \(unretained), bound \(bound)")
        print("history, two months: \(samplesWritten) samples in \(chunksWritten) chunks, \(rawBytesWritten) raw bytes written; largest file \(largest.allocated) bytes (\(largest.used) used), final bound \(bound), \(growth) bytes of growth after day 30")
    }
}
