import ClubKernel
import ClubProtocol
import ClubRuntime
import Foundation
import JSON
import Logging

/// Publishes every event of the activity log on `activity.<type>`, in log order, with its
/// offset. Its offset is committed after publishing, at most once a second (and at shutdown),
/// so that it does not compete with `submit` for the writer: a crash can repeat up to a second
/// of events (subscribers see the repeated offsets) but never skips one.
actor ActivityFeed: LogConsumer {
    static let consumerName = "activity-feed"
    nonisolated var name: String { Self.consumerName }
    nonisolated let batchLimit = 1000
    private let store: any ConsumerOffsetStore
    private let publisher: Publisher
    private let logger: Logger
    private(set) var offset: Int64
    private var committed: Int64
    private var committedAt = Clock.nowMillis()

    init(store: any ConsumerOffsetStore, publisher: Publisher, logger: Logger) async throws {
        self.store = store
        self.publisher = publisher
        self.logger = logger
        offset = try await store.consumerOffset(Self.consumerName)
        committed = offset
    }

    /// Publishes; the offset is committed by ``due()``. What is published stays published,
    /// so a failed commit needs no recovery: the next one stores the offset.
    func apply(_ records: [ActivityEvent], upTo newOffset: Int64) async throws {
        await publisher.publish(records.map(Self.message))
        offset = newOffset
    }

    func due() async throws {
        if Clock.nowMillis() - committedAt >= 1000 { try await commit() }
    }

    func close() async throws { try await commit() }

    private func commit() async throws {
        guard offset != committed else { return }
        try await store.commitOffset(Self.consumerName, offset)
        committed = offset
        committedAt = Clock.nowMillis()
    }

    private static func message(_ record: ActivityEvent) -> Publisher.Message {
        Publisher.Message(topic: "activity.\(record.type)", members: ActivityPayload(offset: Int(record.offset), event: record.json).members)
    }
}
