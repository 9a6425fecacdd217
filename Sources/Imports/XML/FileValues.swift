import ClubKernel
import Events

extension EventTime {
    /// A time in a workout file: RFC 3339, or without a zone (read as UTC, as GPX 1.0
    /// writers often leave it).
    static func parseFileTime(_ text: String) -> Int64? {
        parseRFC3339(text) ?? parseRFC3339(text + "Z")
    }
}

extension XMLScanner {
    /// The number an element holds, or an `code` error naming the element.
    static func number(_ text: String, in element: String, code: String) throws(ImportError) -> Double {
        guard let value = Double(text), value.isFinite else {
            throw ImportError(code, "<\(element)> holds '\(text.prefix(40))', not a number")
        }
        return value
    }
}
