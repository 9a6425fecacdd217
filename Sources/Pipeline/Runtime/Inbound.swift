import ClubKernel
import Events
import Foundation

/// What the pipeline's consumer loop takes in, in order.
enum Inbound: Sendable {
    /// A batch of ingest frames, decoded on the ingest thread.
    case ingested(DecodedEvents, frames: Int, receivedAt: Int64)
    /// Samples of an acknowledged `submit`, already journaled at `journalSeq`.
    case submitted([TelemetrySample], journalSeq: Int64)
    /// Take a snapshot now; resumed when it is saved.
    case snapshot(CheckedContinuation<StateSnapshot, any Error>)
    /// The daemon's clock moved on: close the windows of users who went quiet.
    case tick
    /// Replace the pipelines; resumed with a summary of what changed.
    case reload([PipelineDefinition], CheckedContinuation<[String], Never>)
}
