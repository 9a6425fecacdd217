import Foundation

/// The public sample workout files of `../shared/testdata/workouts` (see SOURCES.md there):
/// present in CI, possibly absent elsewhere (tests skip then, saying why).
public enum SampleWorkouts {
    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../../shared/testdata/workouts").standardized

    public static var available: Bool { FileManager.default.fileExists(atPath: directory.path) }

    /// Why tests that need the files are skipped.
    public static let absence = "the sample workout files are expected in ../shared/testdata/workouts (absent here)"

    /// The bytes of `name` (such as `fit/sample-activity.fit`).
    public static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }
}
