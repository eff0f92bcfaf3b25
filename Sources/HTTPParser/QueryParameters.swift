// Query strings as `name=value&…` pairs. RFC 3986 §3.4 leaves the query's inner syntax
// to the application; this is the form-encoding convention (WHATWG URL §5.1) that curl,
// browsers and every HTTP library produce.

/// QueryParameter is one `name=value` pair, both still percent-encoded, as ranges in the
/// request buffer; `value` is empty when the pair has no `=`.
public struct QueryParameter: Hashable, Sendable {
    public var name: ByteRange
    public var value: ByteRange
    @inlinable public init(name: ByteRange, value: ByteRange) { self.name = name; self.value = value }
}

/// QueryParameters iterates the pairs of a query (`head.query`) split at `&`, skipping
/// empty ones, and stops after `countMax` pairs so a hostile query costs a bounded scan.
/// Decode names and values with `percentDecode(_:into:plusAsSpace: true)`.
public struct QueryParameters: Sequence, IteratorProtocol {
    /// defaultCountMax: more pairs than any of our endpoints takes, by far.
    public static let defaultCountMax = 32

    @usableFromInline let buffer: UnsafeRawBufferPointer
    @usableFromInline var position: Int
    @usableFromInline let end: Int
    @usableFromInline var remaining: Int

    /// init(_:in:countMax:) iterates `query`, a range of `buffer` (traps if outside it).
    @inlinable
    public init(_ query: ByteRange, in buffer: UnsafeRawBufferPointer, countMax: Int = QueryParameters.defaultCountMax) {
        _ = query.bytes(in: buffer)  // the bounds check
        self.buffer = buffer
        self.position = Int(query.start)
        self.end = Int(query.start) + Int(query.count)
        self.remaining = Swift.max(countMax, 0)
    }

    @inlinable
    public mutating func next() -> QueryParameter? {
        while remaining > 0 && position < end {
            let start = position
            var equals = -1
            while position < end && buffer[position] != ASCII.ampersand {
                if equals < 0 && buffer[position] == ASCII.equals { equals = position }
                position += 1
            }
            let pairEnd = position
            if position < end { position += 1 }  // past '&'
            guard pairEnd > start else { continue }
            remaining -= 1
            let nameEnd = equals >= 0 ? equals : pairEnd
            let valueStart = equals >= 0 ? equals + 1 : pairEnd
            return QueryParameter(
                name: ByteRange(start: Int32(start), count: Int32(nameEnd - start)),
                value: ByteRange(start: Int32(valueStart), count: Int32(pairEnd - valueStart)))
        }
        return nil
    }
}

/// queryValue(named:query:in:into:countMax:) finds the first pair whose decoded name is
/// `name` and decodes its value (`+` as space) into `output`; returns the decoded length,
/// or nil when no such pair is among the first `countMax`. A malformed escape met while
/// comparing a name, or in the value, throws.
@inlinable
public func queryValue(named name: StaticString, query: ByteRange, in buffer: UnsafeRawBufferPointer,
                       into output: UnsafeMutableRawBufferPointer,
                       countMax: Int = QueryParameters.defaultCountMax) throws(PercentDecodingError) -> Int? {
    let expected = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
    for pair in QueryParameters(query, in: buffer, countMax: countMax) {
        if try percentDecodedEquals(pair.name.bytes(in: buffer), expected, plusAsSpace: true) {
            return try percentDecode(pair.value.bytes(in: buffer), into: output, plusAsSpace: true)
        }
    }
    return nil
}
