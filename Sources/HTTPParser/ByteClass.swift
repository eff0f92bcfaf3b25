// The byte classes of RFC 9110 §5.6 and RFC 9112 §3, as bit tests rather than table
// loads: a global table would cost a lazy-initialisation check and a bounds check per
// byte, a 128-bit mask costs a shift. (picohttpparser uses a 256-byte table; the masks
// here are the same idea in registers.)

/// ASCII names the bytes the parser compares against.
@usableFromInline enum ASCII {
    @usableFromInline static let htab: UInt8 = 0x09
    @usableFromInline static let lf: UInt8 = 0x0A
    @usableFromInline static let cr: UInt8 = 0x0D
    @usableFromInline static let sp: UInt8 = 0x20
    @usableFromInline static let hash: UInt8 = 0x23
    @usableFromInline static let percent: UInt8 = 0x25
    @usableFromInline static let ampersand: UInt8 = 0x26
    @usableFromInline static let asterisk: UInt8 = 0x2A
    @usableFromInline static let plus: UInt8 = 0x2B
    @usableFromInline static let comma: UInt8 = 0x2C
    @usableFromInline static let slash: UInt8 = 0x2F
    @usableFromInline static let zero: UInt8 = 0x30
    @usableFromInline static let colon: UInt8 = 0x3A
    @usableFromInline static let equals: UInt8 = 0x3D
    @usableFromInline static let question: UInt8 = 0x3F
}

/// ByteClass answers "may this byte appear here?" for each grammar the parser checks.
@usableFromInline enum ByteClass {
    /// isTokenChar: `tchar` of RFC 9110 §5.6.2 (methods, field names, Connection
    /// options): ALPHA, DIGIT and ``!#$%&'*+-.^_`|~``. Bit b of the mask is byte b.
    @inlinable @inline(__always)
    static func isTokenChar(_ b: UInt8) -> Bool {
        let low: UInt64 = 0x03FF_6CFA_0000_0000   // bytes 0..<64
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE  // bytes 64..<128
        let mask = b < 64 ? low : high
        return b < 128 && (mask >> UInt64(b & 63)) & 1 != 0
    }

    /// isTargetChar: bytes allowed in a request-target (RFC 9112 §3.2): visible ASCII
    /// except `#` (a fragment is never sent, RFC 9110 §4.2.4). Controls, SP, DEL and
    /// non-ASCII bytes end or reject the target, so it cannot smuggle a second field.
    @inlinable @inline(__always)
    static func isTargetChar(_ b: UInt8) -> Bool {
        b &- 0x21 < 0x5E && b != ASCII.hash
    }

    /// isFieldValueChar: `field-vchar`, SP and HTAB (RFC 9110 §5.5): any byte but the
    /// controls and DEL; obs-text (0x80–0xFF) is kept opaque, as §5.5 allows.
    @inlinable @inline(__always)
    static func isFieldValueChar(_ b: UInt8) -> Bool {
        (b >= ASCII.sp && b != 0x7F) || b == ASCII.htab
    }

    /// hasControlOrDEL: whether any of the eight bytes of `word` is below 0x20 or is
    /// 0x7F (the bytes `isFieldValueChar` refuses, and HTAB). Exact as a yes/no, by
    /// the "has byte less than n" and "has zero byte" tricks of Bit Twiddling Hacks.
    @inlinable @inline(__always)
    static func hasControlOrDEL(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let below20 = (word &- ones &* 0x20) & ~word & highs
        let del = word ^ (ones &* 0x7F)
        let isDEL = (del &- ones) & ~del & highs
        return below20 | isDEL != 0
    }

    /// isOWS: optional whitespace, SP or HTAB (RFC 9110 §5.6.3).
    @inlinable @inline(__always)
    static func isOWS(_ b: UInt8) -> Bool { b == ASCII.sp || b == ASCII.htab }

    /// isHostChar: bytes of `uri-host [ ":" port ]` (RFC 3986 §3.2.2): unreserved,
    /// pct-encoded, sub-delims, `:` and the brackets of an IP literal. Anything else
    /// (`/`, `@`, SP…) makes the Host field invalid (RFC 9112 §3.2: answer 400).
    @inlinable @inline(__always)
    static func isHostChar(_ b: UInt8) -> Bool {
        let low: UInt64 = 0x2FFF_7FF2_0000_0000
        let high: UInt64 = 0x47FF_FFFE_AFFF_FFFE
        let mask = b < 64 ? low : high
        return b < 128 && (mask >> UInt64(b & 63)) & 1 != 0
    }

    /// isDigit: DIGIT (RFC 5234 B.1).
    @inlinable @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b &- ASCII.zero < 10 }

    /// hexValue: the value of a HEXDIG (either case), or nil.
    @inlinable @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt8? {
        if b &- 0x30 < 10 { return b &- 0x30 }
        let lower = b | 0x20
        if lower &- 0x61 < 6 { return lower &- 0x61 &+ 10 }
        return nil
    }

    /// foldedLetter: an ASCII letter lowercased, any other byte unchanged, so case-
    /// insensitive comparison (field names, RFC 9110 §5.1) never equates non-letters.
    @inlinable @inline(__always)
    static func foldedLetter(_ b: UInt8) -> UInt8 {
        b &- 0x41 < 26 ? b | 0x20 : b
    }
}
