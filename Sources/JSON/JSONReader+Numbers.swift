#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension JSONReader {
    private static let exactPowersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    /// Scans a number per RFC 8259's grammar and converts it to the nearest Double.
    /// Numbers too large for a Double are refused rather than turned into infinity.
    mutating func scanNumber() throws -> Double {
        let start = position
        var negative = false
        if bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
        var exponent = 0

        guard position < bytes.count, isDigit(bytes[position]) else {
            throw JSONError(.invalidNumber, at: position, "expected a digit")
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) {
                throw JSONError(.invalidNumber, at: position, "leading zeros are not allowed")
            }
        } else {
            while position < bytes.count, isDigit(bytes[position]) {
                accumulate(bytes[position], &mantissa, &digits)
                position += 1
            }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw JSONError(.invalidNumber, at: position, "expected a digit after '.'")
            }
            while position < bytes.count, isDigit(bytes[position]) {
                accumulate(bytes[position], &mantissa, &digits)
                fractionDigits += 1
                position += 1
            }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            var expNegative = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                expNegative = bytes[position] == UInt8(ascii: "-")
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else {
                throw JSONError(.invalidNumber, at: position, "expected a digit in the exponent")
            }
            while position < bytes.count, isDigit(bytes[position]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[position] - 48) }
                position += 1
            }
            if expNegative { exponent = -exponent }
        }

        // Fast path: the mantissa is exact and the power of ten is exact, so one IEEE
        // multiplication or division rounds correctly.
        let scale = exponent - fractionDigits
        if digits <= 15, abs(scale) <= 22 {
            var value = Double(mantissa)
            value = scale < 0 ? value / Self.exactPowersOfTen[-scale] : value * Self.exactPowersOfTen[scale]
            return negative ? -value : value
        }
        let value = slowConvert(from: start, to: position)
        guard value.isFinite else { throw JSONError(.invalidNumber, at: start, "number out of range") }
        return value
    }

    @inline(__always)
    private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    @inline(__always)
    private func accumulate(_ b: UInt8, _ mantissa: inout UInt64, _ digits: inout Int) {
        // Leading zeros of a fraction do not count as significant digits.
        if digits == 0 && b == UInt8(ascii: "0") { return }
        digits += 1
        if digits <= 19 { mantissa = mantissa &* 10 &+ UInt64(b - 48) }
    }

    /// Correctly rounded conversion by the C library for long or extreme numbers.
    private func slowConvert(from start: Int, to end: Int) -> Double {
        var text = [CChar](repeating: 0, count: end - start + 1)
        for i in start..<end { text[i - start] = CChar(bitPattern: bytes[i]) }
        return strtod(text, nil)
    }
}
