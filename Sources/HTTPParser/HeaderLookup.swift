// Finding a header field by name among the slots the parser filled.

extension HTTPRequestHead {
    /// firstHeader(named:in:headers:) is the value range of the first field named `name`,
    /// compared ignoring ASCII case (field names are case-insensitive, RFC 9110 §5.1);
    /// nil when absent. `name` may be in any case. Scans at most `headerCount` slots, so
    /// its cost is capped by `HTTPLimits.headerCountMax`. Fields that may repeat as a
    /// list (RFC 9110 §5.3) need a loop over the slots instead.
    @inlinable
    public func firstHeader(named name: StaticString, in buffer: UnsafeRawBufferPointer,
                            headers: UnsafeBufferPointer<HeaderSlot>) -> ByteRange? {
        let wanted = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        for index in 0..<min(headerCount, headers.count) {
            let slot = headers[index]
            guard Int(slot.name.count) == wanted.count else { continue }
            let candidate = slot.name.bytes(in: buffer)
            var same = true
            for k in 0..<wanted.count where ByteClass.foldedLetter(candidate[k]) != ByteClass.foldedLetter(wanted[k]) {
                same = false
                break
            }
            if same { return slot.value }
        }
        return nil
    }
}
