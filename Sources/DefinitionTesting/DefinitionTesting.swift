import Definitions

/// Helpers for the tests of definition files (pipelines, bonus rules, offer rules): where a
/// parser locates a mistake, and mutated texts for fuzzing.
public enum DefinitionTesting {
    /// The mistakes `parse` reports: empty when it accepts. Any other error is reported as a
    /// mistake without a location (line 0), which location checks reject.
    public static func errors(_ parse: () throws -> Void) -> [DefinitionError] {
        do {
            try parse()
            return []
        } catch let errors as DefinitionErrors {
            return errors.errors
        } catch {
            return [DefinitionError(file: "?", line: 0, column: 0, message: "not a definition error: \(error)")]
        }
    }

    /// `line:column` of the first mistake whose message contains `message`; otherwise what
    /// was reported instead, so that a failed comparison explains itself.
    public static func location(of message: String, _ parse: () throws -> Void) -> String {
        let reported = errors(parse)
        guard let match = reported.first(where: { $0.message.contains(message) }) else {
            return reported.isEmpty ? "accepted" : "no mistake mentions \"\(message)\": \(DefinitionErrors(reported))"
        }
        return "\(match.line):\(match.column)"
    }

    /// `count` copies of `seed`, each with one to `edits` random edits: a byte replaced by,
    /// or an insertion of, one of `alphabet`, or a byte deleted.
    public static func mutations(of seed: String, count: Int, edits: Int = 4, alphabet: String = "{}[]:,- \n#\"'abc019.&*!|>=()<")
        -> [String]
    {
        let letters = Array(alphabet.utf8)
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            var text = Array(seed.utf8)
            for _ in 0..<Int.random(in: 1...edits, using: &rng) where !text.isEmpty {
                let at = Int.random(in: 0..<text.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: text[at] = letters.randomElement(using: &rng)!
                case 1: text.remove(at: at)
                default: text.insert(letters.randomElement(using: &rng)!, at: at)
                }
            }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
