import Foundation
import Testing

/// The public sample workout files of `../shared/testdata/workouts` (see SOURCES.md there).
enum WorkoutFiles {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../../shared/testdata/workouts").standardized

    static var available: Bool { FileManager.default.fileExists(atPath: directory.path) }

    /// The bytes of `name` (such as `fit/sample-activity.fit`).
    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// Skips a test when the shared test data is absent (it is present in CI).
    static let condition = ConditionTrait.enabled(
        if: available, "the sample workout files are in ../shared/testdata/workouts (absent here)")
}
