import Foundation
import JSON
import Logging
import Storage

/// Publishes every event of the activity log on `activity.<type>`, in log order, with its
/// offset. Its offset is committed after publishing, so a crash can repeat the last batch
/// (subscribers see the repeated offsets) but never skips one.
actor ActivityFeed: LogConsumer {
    static let consumerName = "activity-feed"
    private let store: ClubStore
    private let publisher: Publisher
    private let logger: Logger
    private var offset: Int64

    init(store: ClubStore, publisher: Publisher, logger: Logger) async throws {
        self.store = store
        self.publisher = publisher
        self.logger = logger
        offset = try await store.consumerOffset(Self.consumerName)
    }

    func drain() async {
        do {
            while case let records = try await store.activity(after: offset, limit: 1000), let last = records.last {
                await publisher.publish(records.map(Self.message))
                try await store.commitOffset(Self.consumerName, last.offset)
                offset = last.offset
            }
        } catch {
            logger.error("activity feed stalled", metadata: ["error": "\(error)"])
        }
    }

    private static func message(_ record: ClubStore.ActivityRecord) -> Publisher.Message {
        var w = JSONWriter(capacity: record.body.count + 64)
        w.member("offset", Int(record.offset))
        w.key("event")
        w.raw(record.body)
        return Publisher.Message(topic: "activity.\(record.type)", members: w.bytes)
    }
}
