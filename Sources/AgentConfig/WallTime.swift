// A moment on the wall clock as operators write it (`baton resign --at`, the `at` of
// POST /handover): RFC 3339, e.g. `2026-12-07T19:00:00Z` or `2026-12-07T20:00:00.5+01:00`.
// An offset (or Z) is required: a time without one means different moments on members
// in different time zones. Leap seconds (`:60`) are refused rather than guessed at.

/// parseWallTime reads an RFC 3339 date-time into Unix milliseconds.
public func parseWallTime(_ text: String, flag: String) throws(ConfigError) -> Int64 {
    let example = "write RFC 3339 with an offset, e.g. 2026-12-07T19:00:00Z or 2026-12-07T20:00:00+01:00"
    let b = Array(text.trimmingSpaces.utf8)
    guard b.count <= 64 else { throw ConfigError(flag: flag, "'\(text.prefix(64))…' is too long to be a time; \(example)") }
    var at = 0
    func number(_ digits: Int) -> Int? {
        guard b.count - at >= digits else { return nil }
        var v = 0
        for k in 0..<digits {
            let c = b[at + k]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        at += digits
        return v
    }
    func expect(_ options: [UInt8]) -> Bool {
        guard at < b.count, options.contains(b[at]) else { return false }
        at += 1
        return true
    }
    let colon: [UInt8] = [0x3a], dash: [UInt8] = [0x2d]
    guard let year = number(4), expect(dash), let month = number(2), expect(dash), let day = number(2),
          expect([0x54, 0x74, 0x20]),  // T, t or a space (RFC 3339 §5.6, NOTE)
          let hour = number(2), expect(colon), let minute = number(2), expect(colon), let second = number(2) else {
        throw ConfigError(flag: flag, "'\(text)' is not a time; \(example)")
    }
    var millis = 0
    if expect([0x2e]) {
        // A fraction: milliseconds are kept, further digits are read and dropped.
        var digits = 0
        while at < b.count, b[at] >= 0x30 && b[at] <= 0x39 {
            if digits < 3 { millis = millis * 10 + Int(b[at] - 0x30) }
            digits += 1
            at += 1
        }
        guard digits > 0 else { throw ConfigError(flag: flag, "'\(text)': a '.' must be followed by digits; \(example)") }
        for _ in digits..<max(digits, 3) { millis *= 10 }
    }
    var offsetMinutes = 0
    if expect([0x5a, 0x7a]) {  // Z or z
    } else if at < b.count, b[at] == 0x2b || b[at] == 0x2d {
        let sign = b[at] == 0x2d ? -1 : 1
        at += 1
        guard let oh = number(2), expect(colon), let om = number(2), oh <= 23, om <= 59 else {
            throw ConfigError(flag: flag, "'\(text)': the offset must be Z or ±HH:MM; \(example)")
        }
        offsetMinutes = sign * (oh * 60 + om)
    } else {
        throw ConfigError(flag: flag, "'\(text)' has no offset (Z or ±HH:MM), so it names a different moment in every time zone; \(example)")
    }
    guard at == b.count else { throw ConfigError(flag: flag, "'\(text)': unexpected text after the time; \(example)") }
    guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour <= 23, minute <= 59, second <= 59 else {
        throw ConfigError(flag: flag, "'\(text)' is not a valid date and time (month 1-12, a day the month has, 00:00:00 to 23:59:59)")
    }
    let days = Int64(daysSinceEpoch(year: year, month: month, day: day))
    let seconds = days * 86_400 + Int64(hour * 3_600 + minute * 60 + second) - Int64(offsetMinutes * 60)
    return seconds * 1_000 + Int64(millis)
}

private func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

private func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

/// daysSinceEpoch counts days from 1970-01-01 to a proleptic Gregorian date, by the
/// 400-year era decomposition H. Hinnant describes ("chrono-compatible low-level date
/// algorithms", days_from_civil): March-based years put the leap day last.
private func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}
