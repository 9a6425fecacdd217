import Foundation
import JSON
import Testing

/// The suite's folder, or nil where ../shared is absent.
let jsonTestSuiteDirectory: URL? = {
    let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let dir = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata/json-test-suite/test_parsing")
    return FileManager.default.fileExists(atPath: dir.path) ? dir : nil
}()

/// Runs ../shared/testdata/json-test-suite: every y_ case accepted, every n_ case refused,
/// every i_ case answered without crashing or hanging.
@Suite(.enabled(if: jsonTestSuiteDirectory != nil, "skipped: ../shared/testdata/json-test-suite is absent (CI has it)"))
struct JSONTestSuiteTests {
    static let suiteDirectory = jsonTestSuiteDirectory

    static func cases(_ prefix: String) -> [String] {
        guard let dir = suiteDirectory,
            let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: suiteDirectory!.appendingPathComponent(name)))
    }

    @Test func suiteHasAllItsCases() throws {
        #expect(Self.cases("y_").count > 90)
        #expect(Self.cases("n_").count > 150)
    }

    @Test(arguments: cases("y_")) func acceptsValid(_ name: String) throws {
        let input = try Self.bytes(name)
        #expect(throws: Never.self) { try JSONValue.parse(input) }
        // The reader's skipping path must agree with the tree path.
        input.withUnsafeBytes { buffer in
            var reader = JSONReader(buffer)
            #expect(throws: Never.self) {
                try reader.skipValue()
                try reader.expectEnd()
            }
        }
    }

    @Test(arguments: cases("n_")) func refusesInvalid(_ name: String) throws {
        let input = try Self.bytes(name)
        #expect(throws: JSONError.self) { try JSONValue.parse(input) }
        input.withUnsafeBytes { buffer in
            var reader = JSONReader(buffer)
            #expect(throws: JSONError.self) {
                try reader.skipValue()
                try reader.expectEnd()
            }
        }
    }

    @Test(arguments: cases("i_")) func answersImplementationDefined(_ name: String) throws {
        let input = try Self.bytes(name)
        // Either outcome is allowed; crashing or hanging is not.
        _ = try? JSONValue.parse(input)
    }
}
