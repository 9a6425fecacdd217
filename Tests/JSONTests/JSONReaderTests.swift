import JSON
import Testing

@Suite struct JSONReaderTests {
    @Test func parsesNestedDocument() throws {
        let value = try JSONValue.parse(#"{"a":[1,-2.5e2,true,null,"x\u00e9\ud83d\ude00"],"b":{}}"#)
        #expect(value["a"] == [1, -250, true, nil, "xé😀"])
        #expect(value["b"] == .object(JSONObject()))
    }

    @Test(arguments: [
        ("0", 0.0), ("-0.0", -0.0), ("1234.5", 1234.5), ("1764237600000", 1_764_237_600_000),
        ("55.7512", 55.7512), ("1e-7", 1e-7), ("123456789012345678901234", 1.2345678901234568e23),
        ("0.1", 0.1), ("2.2250738585072014e-308", 2.2250738585072014e-308),
    ])
    func convertsNumbersExactly(text: String, expected: Double) throws {
        #expect(try JSONValue.parse(text) == .number(expected))
    }

    /// Commas are due after every member or element except right after an opening bracket,
    /// also when the previous value was itself an empty container.
    @Test(arguments: [#"[[]1]"#, #"[{}{}]"#, #"{"a":{}"b":1}"#, #"{"a":[]"b":1}"#, #"[,1]"#, #"{,"a":1}"#, #"[[],]"#])
    func refusesMissingOrStrayCommas(text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func acceptsCommasAfterEmptyContainers() throws {
        #expect(try JSONValue.parse(#"[[],{},[[]],1]"#) == [[], .object(JSONObject()), [[]], 1])
        #expect(try JSONValue.parse(#"{"a":{},"b":[],"c":{"d":[]}}"#)["c"]?["d"] == [])
    }

    @Test func refusesOverflowingNumbers() {
        #expect(throws: JSONError.self) { try JSONValue.parse("1e400") }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONError(.tooDeep, at: 65, "nesting deeper than 64 levels")) { try JSONValue.parse(deep) }
        let allowed = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONValue.parse(allowed) }
    }

    @Test func errorsSayWhereAndWhat() {
        #expect(throws: JSONError(.unexpectedCharacter, at: 5, "expected ':' after member name, found '1'")) {
            try JSONValue.parse(#"{"a" 1}"#)
        }
        #expect(throws: JSONError(.trailingData, at: 3, "unexpected data after the JSON value")) {
            try JSONValue.parse("{} x")
        }
    }

    @Test func writerRoundTripsValues() throws {
        let value: JSONValue = ["s": "q\"\\\n\u{01}é", "n": 1.5, "i": -42, "a": [true, false, nil], "o": [:]]
        let text = value.jsonText
        #expect(text == #"{"s":"q\"\\\n\u0001é","n":1.5,"i":-42,"a":[true,false,null],"o":{}}"#)
        #expect(try JSONValue.parse(text) == value)
    }

    /// Strings are copied whole when nothing in them needs an escape, and escaped wherever the
    /// one character that does sits: first, last, in a small string or a long one.
    @Test func writerEscapesWhereverTheCharacterIs() throws {
        let long = String(repeating: "abcdé", count: 40)
        for text in ["", "a", "plain", long, "\"" + long, long + "\\", long + "\u{1F}" + long, "a\tb", "ü\n"] {
            var w = JSONWriter()
            w.value(text)
            let written = String(decoding: w.bytes, as: UTF8.self)
            #expect(try JSONValue.parse(written) == .string(text), "\(written)")
            #expect(written.utf8.count == text.utf8.count + 2 || text.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C })
        }
    }

    /// Random byte strings and mutations of valid documents never crash the reader, and the
    /// skipping path and the tree path always agree.
    @Test func fuzzedInputNeverCrashesAndPathsAgree() {
        var rng = SystemRandomNumberGenerator()
        let seeds = [
            #"{"type":"telemetry","user":"u-1","ts":1764237600000,"hr":140,"lat":55.7}"#,
            #"[{"a":[1,2,{"b":"\u0041"}]},null,true,-0.5e-3]"#,
        ].map { Array($0.utf8) }
        for round in 0..<20_000 {
            var input: [UInt8]
            if round % 4 == 0 {
                input = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                input = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<input.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: input[i] = UInt8.random(in: 0...255, using: &rng)
                    case 1: input.remove(at: i)
                    default: input.insert(input[Int.random(in: 0..<input.count, using: &rng)], at: i)
                    }
                    if input.isEmpty { break }
                }
            }
            let tree = (try? JSONValue.parse(input)) != nil
            let skipped = input.withUnsafeBytes { buffer in
                var reader = JSONReader(buffer)
                return (try? reader.skipValue()).flatMap { try? reader.expectEnd() } != nil
            }
            #expect(tree == skipped, "paths disagree on \(input)")
        }
    }
}
