import ClubTestKit
import Testing

/// The shared sample workout files, for the decoder tests.
enum WorkoutFiles {
    static func bytes(_ name: String) throws -> [UInt8] { try SampleWorkouts.bytes(name) }

    /// Skips a test when the shared test data is absent (it is present in CI).
    static let condition = ConditionTrait.enabled(if: SampleWorkouts.available, Comment(rawValue: SampleWorkouts.absence))
}
