// HTTPParserFuzz.swift: the libFuzzer entry point for the request parser. fuzz/run.sh
// compiles it together with Sources/HTTPParser/*.swift as one module, with ASan, so an
// out-of-bounds read is caught by the sanitizer and a broken promise by `invariant`.

/// fuzzLimitsSmall: limits small enough that random inputs reach every 414/431/413 path.
let fuzzLimitsSmall: HTTPLimits = {
    var limits = HTTPLimits()
    limits.requestLineBytesMax = 40
    limits.headerCountMax = 4
    limits.headerBytesMax = 96
    limits.bodyBytesMax = 10
    return limits
}()

/// LLVMFuzzerTestOneInput: parses the input under the default and the small limits and
/// checks every promise of `parseRequestHead` and the helpers.
@_cdecl("LLVMFuzzerTestOneInput")
public func httpParserFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    fuzzCheck(bytes, limits: HTTPLimits(), slotCount: 64)
    fuzzCheck(bytes, limits: fuzzLimitsSmall, slotCount: 3)  // fewer slots than the limit
    fuzzCheckResponse(bytes)
    return 0
}

/// fuzzCheckResponse(_:) feeds the same bytes to the client side (the etcd client's
/// response-head parser and chunked decoder): a complete head ends within the input and
/// one byte less is partial; the decoder never consumes past the input nor produces more
/// body than it consumed, whole or split in two at any point.
func fuzzCheckResponse(_ bytes: UnsafeRawBufferPointer) {
    let limits = HTTPResponseLimits(headBytesMax: 200, headerCountMax: 4)
    if case .complete(_, let consumed) = parseResponseHead(bytes, limits: limits) {
        invariant(consumed > 0 && consumed <= bytes.count, "response head within the input")
        invariant(parseResponseHead(UnsafeRawBufferPointer(rebasing: bytes[0..<(consumed - 1)]), limits: limits) == .partial,
                  "a head one byte short is partial")
    }
    var whole = ChunkedDecoder()
    var body: [UInt8] = []
    let (consumed, _) = whole.decode(bytes, into: &body)
    invariant(consumed <= bytes.count && body.count <= consumed, "chunked decoding within the input")
    let cut = bytes.count / 2
    var split = ChunkedDecoder()
    var splitBody: [UInt8] = []
    let (first, outcome) = split.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<cut]), into: &splitBody)
    if first == cut, outcome == .needMore {
        let (second, _) = split.decode(UnsafeRawBufferPointer(rebasing: bytes[cut...]), into: &splitBody)
        invariant(first + second == consumed && splitBody == body, "split input decodes the same")
    }
}

/// invariant(_:_:) traps, so libFuzzer records the input as a crash.
@inline(__always)
func invariant(_ condition: Bool, _ message: StaticString) {
    if !condition { fatalError("invariant broken: \(message)") }
}

/// fuzzParse(_:limits:slots:) is one parse with a fresh head.
func fuzzParse(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits,
               slots: UnsafeMutableBufferPointer<HeaderSlot>) -> (HTTPParseResult, HTTPRequestHead) {
    var head = HTTPRequestHead()
    let result = parseRequestHead(bytes, limits: limits, head: &head, headers: slots)
    return (result, head)
}

/// fuzzCheck(_:limits:slotCount:) asserts, for one input and one set of limits:
/// - `.complete(c)`: 0 < c ≤ count; headerCount ≤ both caps; every range in 0..<c;
///   0 ≤ contentLength ≤ bodyBytesMax; the first c bytes alone give the same head and
///   c - 1 bytes give `.partial`; the helpers stay in bounds.
/// - otherwise: `head` untouched, and a prefix is `.partial` or the same result (an
///   error is decided by the bytes that prove it, never by what follows).
func fuzzCheck(_ bytes: UnsafeRawBufferPointer, limits: HTTPLimits, slotCount: Int) {
    withUnsafeTemporaryAllocation(of: HeaderSlot.self, capacity: slotCount) { slots in
        _ = slots.initialize(from: repeatElement(HeaderSlot(), count: slotCount))
        let (result, head) = fuzzParse(bytes, limits: limits, slots: slots)
        switch result {
        case .complete(let consumed):
            invariant(consumed > 0 && consumed <= bytes.count, "consumed within the input")
            invariant(head.headerCount >= 0 && head.headerCount <= slotCount
                      && head.headerCount <= limits.headerCountMax, "headerCount within the caps")
            func inside(_ r: ByteRange) -> Bool { r.start >= 0 && r.count >= 0 && Int(r.start) + Int(r.count) <= consumed }
            invariant(inside(head.methodBytes) && inside(head.target) && inside(head.path) && inside(head.query),
                      "request-line ranges within the head")
            for k in 0..<head.headerCount {
                invariant(inside(slots[k].name) && inside(slots[k].value), "header ranges within the head")
            }
            invariant(head.contentLength >= 0 && head.contentLength <= limits.bodyBytesMax, "content length capped")

            let headBytes = UnsafeRawBufferPointer(rebasing: bytes[0..<consumed])
            let (again, againHead) = fuzzParse(headBytes, limits: limits, slots: slots)
            invariant(again == result && againHead == head, "the head alone parses the same")
            let shorter = UnsafeRawBufferPointer(rebasing: bytes[0..<(consumed - 1)])
            invariant(fuzzParse(shorter, limits: limits, slots: slots).0 == .partial, "one byte less is partial")

            fuzzHelpers(headBytes, head: head, slots: UnsafeBufferPointer(slots))
        case .partial, .invalid:
            invariant(head == HTTPRequestHead(), "head untouched unless complete")
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count / 2)])
            let early = fuzzParse(prefix, limits: limits, slots: slots).0
            invariant(early == .partial || early == result, "a prefix is partial or the same refusal")
        }
    }
}

/// fuzzHelpers(_:head:slots:) runs the handler helpers over a parsed head: decoding
/// never writes past its buffer, query pairs lie inside the query.
func fuzzHelpers(_ bytes: UnsafeRawBufferPointer, head: HTTPRequestHead, slots: UnsafeBufferPointer<HeaderSlot>) {
    withUnsafeTemporaryAllocation(byteCount: bytes.count, alignment: 1) { output in
        for part in [head.path, head.query] {
            let encoded = part.bytes(in: bytes)
            do throws(PercentDecodingError) {
                let n = try percentDecode(encoded, into: output, plusAsSpace: part == head.query)
                invariant(n <= encoded.count, "decoding only shrinks")
            } catch {
                if case .malformedEscape(let offset) = error {
                    invariant(offset >= 0 && offset < encoded.count, "escape offset inside the input")
                }
            }
        }
        let queryEnd = Int(head.query.start) + Int(head.query.count)
        for pair in QueryParameters(head.query, in: bytes) {
            invariant(pair.name.start >= head.query.start && Int(pair.value.start) + Int(pair.value.count) <= queryEnd,
                      "query pair inside the query")
        }
        do throws(PercentDecodingError) {
            if let n = try queryValue(named: "wait", query: head.query, in: bytes, into: output) {
                invariant(n <= head.query.count, "decoded value within the query's size")
            }
        } catch {}
        if let host = head.firstHeader(named: "Host", in: bytes, headers: slots) {
            invariant(Int(host.start) + Int(host.count) <= bytes.count, "Host inside the head")
        }
    }
}
