// Percent-decoding of path and query parts (RFC 3986 §2.1), for handlers. The parser
// leaves both encoded: decoding is the handler's choice, and only it knows the buffer.

/// PercentDecodingError says why an encoded part could not be decoded.
public enum PercentDecodingError: Error, Hashable, Sendable {
    /// A `%` at `offset` in the input is not followed by two hex digits.
    case malformedEscape(offset: Int)
    /// The output buffer is smaller than the decoded bytes (never when it is at least
    /// as long as the input: decoding only shrinks).
    case outputTooSmall
}

extension ByteRange {
    /// bytes(in:) is the part of `buffer` this range locates. Traps if the range is not
    /// inside `buffer` (a range from another buffer is a programmer error).
    @inlinable
    public func bytes(in buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let from = Int(start), to = Int(start) + Int(count)
        precondition(from >= 0 && from <= to && to <= buffer.count, "ByteRange outside its buffer")
        return UnsafeRawBufferPointer(rebasing: buffer[from..<to])
    }
}

/// percentDecode(_:into:plusAsSpace:) decodes `%XX` escapes (either hex case) of
/// `input` into `output` and returns the decoded length. With `plusAsSpace`, `+` is a
/// space, as in form-encoded query strings (WHATWG URL §5.1); in paths it is a plus.
/// A `%` without two hex digits throws rather than passing through, so `%2` and `%zz`
/// cannot mean different things to us and to an upstream. Decoded bytes may be any
/// value (`%00` included); a handler that builds a file name must check them.
@inlinable
public func percentDecode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                          plusAsSpace: Bool = false) throws(PercentDecodingError) -> Int {
    var i = 0
    var o = 0
    let n = input.count
    while i < n {
        var b = input[i]
        if b == ASCII.percent {
            guard i + 2 < n, let high = ByteClass.hexValue(input[i + 1]), let low = ByteClass.hexValue(input[i + 2])
            else { throw .malformedEscape(offset: i) }
            b = high << 4 | low
            i += 3
        } else {
            if plusAsSpace && b == ASCII.plus { b = ASCII.sp }
            i += 1
        }
        guard o < output.count else { throw .outputTooSmall }
        output[o] = b
        o += 1
    }
    return o
}

/// percentDecoded(_:plusAsSpace:) is `percentDecode` into a new array (at most
/// `input.count` bytes): for handlers off the hot path.
public func percentDecoded(_ input: UnsafeRawBufferPointer, plusAsSpace: Bool = false) throws(PercentDecodingError) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: input.count)
    let outcome: Result<Int, PercentDecodingError> = output.withUnsafeMutableBytes { buffer in
        do throws(PercentDecodingError) {
            return .success(try percentDecode(input, into: buffer, plusAsSpace: plusAsSpace))
        } catch {
            return .failure(error)
        }
    }
    let decodedCount = try outcome.get()
    output.removeLast(output.count - decodedCount)
    return output
}

/// percentDecodedEquals(_:_:plusAsSpace:) says whether `input` decodes to exactly
/// `expected`, decoding on the fly so nothing is allocated or copied.
@inlinable
public func percentDecodedEquals(_ input: UnsafeRawBufferPointer, _ expected: UnsafeRawBufferPointer,
                                 plusAsSpace: Bool = false) throws(PercentDecodingError) -> Bool {
    var i = 0
    var e = 0
    let n = input.count
    while i < n {
        var b = input[i]
        if b == ASCII.percent {
            guard i + 2 < n, let high = ByteClass.hexValue(input[i + 1]), let low = ByteClass.hexValue(input[i + 2])
            else { throw .malformedEscape(offset: i) }
            b = high << 4 | low
            i += 3
        } else {
            if plusAsSpace && b == ASCII.plus { b = ASCII.sp }
            i += 1
        }
        guard e < expected.count && expected[e] == b else { return false }
        e += 1
    }
    return e == expected.count
}
