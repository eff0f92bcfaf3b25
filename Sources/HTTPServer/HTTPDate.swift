// The `Date` header (RFC 9110 §6.6.1: an origin server with a clock sends it),
// formatted once per second into a fixed buffer.
import Posix

/// HTTPDate keeps the current `Date: ...\r\n` line, refreshed when the second changes.
struct HTTPDate: ~Copyable {
    /// line is `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`: always 37 bytes.
    static let lineCount = 37
    let line: UnsafeMutableRawBufferPointer
    private var second: Int64 = .min

    init() {
        line = .allocate(byteCount: Self.lineCount, alignment: 8)
        line.initializeMemory(as: UInt8.self, repeating: 0)
        refresh()
    }

    deinit { line.deallocate() }

    /// refresh reformats the line if the wall-clock second changed (one coarse clock
    /// read, which the vDSO answers without a system call).
    mutating func refresh() {
        let now = Clock.realtimeSeconds()
        if now == second { return }
        second = now
        Self.format(now, into: line)
    }

    /// format writes IMF-fixdate. Civil date from days since 1970 after Howard Hinnant's
    /// `civil_from_days` (public-domain algorithm, http://howardhinnant.github.io/date_algorithms.html).
    static func format(_ seconds: Int64, into out: UnsafeMutableRawBufferPointer) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4)
        let names: StaticString = "SunMonTueWedThuFriSatJanFebMarAprMayJunJulAugSepOctNovDec"
        var i = 0
        func put(_ byte: UInt8) { out[i] = byte; i += 1 }
        func putName(_ index: Int) {
            names.withUTF8Buffer { n in for k in 0..<3 { put(n[index * 3 + k]) } }
        }
        func put2(_ v: Int) { put(UInt8(48 + v / 10)); put(UInt8(48 + v % 10)) }
        for c in "Date: ".utf8 { put(c) }
        putName(weekday); put(44); put(32)
        put2(day); put(32)
        putName(7 + month - 1); put(32)
        put2(year / 100 % 100); put2(year % 100); put(32)
        put2(secondOfDay / 3600); put(58); put2(secondOfDay / 60 % 60); put(58); put2(secondOfDay % 60)
        for c in " GMT\r\n".utf8 { put(c) }
        assert(i == lineCount)
    }
}
