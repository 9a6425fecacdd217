import ClubProtocol
import Foundation
import Imports
import Logging

/// Bulk imports: workout files dropped into `<folder>/<system>/<user>/<name>.fit|gpx|tcx`
/// are imported as with the `import` op (consent and duplicates included), then moved to
/// `<folder>/done/<system>/<user>/`, or to `<folder>/failed/<system>/<user>/` beside a
/// `<name>.error` note with the reason. A file is taken once it has not changed for two
/// seconds, so that one still being copied is left for the next scan.
struct DropFolder {
    let folder: URL
    let importer: WorkoutImporter
    let logger: Logger

    static let settleSeconds: TimeInterval = 2

    /// Imports every waiting file once.
    func scan() async {
        let files = FileManager.default
        for system in Self.children(of: folder) where !["done", "failed"].contains(system.lastPathComponent) {
            for user in Self.children(of: system) {
                for file in Self.children(of: user) {
                    guard let format = WorkoutFormat(rawValue: file.pathExtension.lowercased()),
                        let modified = (try? files.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date,
                        Date().timeIntervalSince(modified) >= Self.settleSeconds,
                        let data = files.contents(atPath: file.path)
                    else { continue }
                    let result = await importer.run(
                        user: user.lastPathComponent, system: system.lastPathComponent, format: format, file: [UInt8](data), sport: nil)
                    settle(file, system: system.lastPathComponent, user: user.lastPathComponent, result: result)
                }
            }
        }
    }

    private func settle(_ file: URL, system: String, user: String, result: Result<ImportReply, ImportError>) {
        let outcome: String
        var note: String?
        switch result {
        case .success:
            outcome = "done"
        case .failure(let error) where error.code == "shutting_down" || error.code == "storage_failed":
            return  // the file stays for the next scan
        case .failure(let error):
            outcome = "failed"
            note = "\(error.code): \(error.message)\n"
        }
        let target = folder.appendingPathComponent(outcome).appendingPathComponent(system).appendingPathComponent(user)
        do {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            let destination = target.appendingPathComponent(file.lastPathComponent)
            try? FileManager.default.removeItem(at: destination)
            try FileManager.default.moveItem(at: file, to: destination)
            if let note { try note.write(to: target.appendingPathComponent(file.lastPathComponent + ".error"), atomically: true, encoding: .utf8) }
            logger.info("drop folder import", metadata: ["file": "\(file.path)", "outcome": "\(outcome)", "reason": "\(note ?? "")"])
        } catch {
            logger.error("drop folder: cannot move a file", metadata: ["file": "\(file.path)", "error": "\(error)"])
        }
    }

    private static func children(of directory: URL) -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []).sorted { $0.path < $1.path }
    }
}
