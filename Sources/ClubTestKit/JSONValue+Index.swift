import JSON

extension JSONValue {
    /// The element at `index` of an array (nil for another value or an index out of range):
    /// `reply["entries"]?[0]?["rank"]` in tests.
    public subscript(index: Int) -> JSONValue? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }
}
