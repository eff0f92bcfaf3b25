// Validation of --leader-unit before anything talks to systemd.

/// UnitName is a checked `NAME.service`: the only kind of unit `--leader-unit` may
/// start and stop. Checking it up front turns a typo into a start-up error that names
/// the flag, instead of a D-Bus error at the first promotion.
public struct UnitName: Hashable, Sendable, CustomStringConvertible {
    /// maxBytes is systemd's own limit on unit names (UNIT_NAME_MAX, 256 with the NUL).
    public static let maxBytes = 255
    public static let suffix = ".service"

    public let rawValue: String
    public var description: String { rawValue }

    /// init accepts what systemd accepts for a plain or instantiated service name:
    /// ASCII letters, digits and `:-_.\@`, ending in `.service`, no slashes, at most
    /// `maxBytes` bytes, with a non-empty name before the suffix.
    public init(_ text: String) throws(UnitNameError) {
        if text.isEmpty { throw .empty }
        if text.utf8.count > Self.maxBytes { throw .tooLong(text.utf8.count) }
        if text.contains("/") { throw .containsSlash(text) }
        guard text.hasSuffix(Self.suffix) else { throw .notAService(text) }
        let stem = text.utf8.dropLast(Self.suffix.utf8.count)
        if stem.isEmpty || stem.first == UInt8(ascii: "@") && stem.count == 1 { throw .emptyStem(text) }
        for byte in text.utf8 where !Self.allowed(byte) {
            throw .invalidCharacter(text, Character(Unicode.Scalar(byte)))
        }
        rawValue = text
    }

    private static func allowed(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
             UInt8(ascii: "\\"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }
}

/// UnitNameError says what is wrong with a --leader-unit value and how to fix it.
public enum UnitNameError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(Int)
    case containsSlash(String)
    case notAService(String)
    case emptyStem(String)
    case invalidCharacter(String, Character)

    public var description: String {
        switch self {
        case .empty:
            return "--leader-unit is empty: give a unit name such as myapp.service"
        case .tooLong(let n):
            return "--leader-unit is \(n) bytes long; systemd unit names have at most \(UnitName.maxBytes)"
        case .containsSlash(let s):
            return "--leader-unit '\(s)' contains '/': give the unit's name (myapp.service), not a path to its file"
        case .notAService(let s):
            return "--leader-unit '\(s)' must name a service and end in .service (e.g. myapp.service)"
        case .emptyStem(let s):
            return "--leader-unit '\(s)' has no name before .service"
        case .invalidCharacter(let s, let c):
            return "--leader-unit '\(s)' contains '\(c.isASCII && !c.isWhitespace ? String(c) : "non-printable or non-ASCII character")'; unit names use only letters, digits and :-_.\\@ (escape others with systemd-escape)"
        }
    }
}
