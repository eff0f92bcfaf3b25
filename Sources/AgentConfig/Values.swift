public import RaftCore
import Membership

/// ConfigError names the setting at fault, what is wrong, and how to fix it. The agent
/// prints it and exits 2 (a bad flag must not restart in a loop under systemd).
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The flag as the user would write it, e.g. `--election-timeout`.
    public var flag: String
    public var message: String
    public init(flag: String, _ message: String) { self.flag = flag; self.message = message }
    public var description: String { "\(flag): \(message)" }
}

/// parseDuration reads a setting in the one duration grammar (`Time/DurationText.swift`):
/// `150ms`, `2s`, `1.5s`, `1m30s`, `1h`. A bare number is refused with the two ways to
/// write it: the unit is what stops `--hook-timeout 30` meaning 30 ms to one reader and
/// 30 s to another. Spaces around the value are ignored (config files); at most a day.
public func parseDuration(_ text: String, flag: String) throws(ConfigError) -> Interval {
    let value: Interval
    do { value = try Interval(parsing: text.trimmingSpaces) }
    catch { throw ConfigError(flag: flag, error.description) }
    guard value <= maxSettingDuration else {
        throw ConfigError(flag: flag, "'\(text)' is longer than a day (\(maxSettingDuration.formatted))")
    }
    return value
}

/// The longest duration any setting takes: a day. Each setting has its own tighter
/// bound where one applies (a hook timeout of at most 1h).
public let maxSettingDuration = Interval.seconds(86_400)

/// parseDurationRange reads `MIN..MAX`, e.g. `150ms..300ms`.
public func parseDurationRange(_ text: String, flag: String) throws(ConfigError) -> (min: Interval, max: Interval) {
    let parts = text.split(separator: "..", omittingEmptySubsequences: false)
    guard parts.count == 2 else {
        throw ConfigError(flag: flag, "'\(text)' is not a range; write MIN..MAX, e.g. 150ms..300ms")
    }
    let lo = try parseDuration(String(parts[0]), flag: flag)
    let hi = try parseDuration(String(parts[1]), flag: flag)
    guard lo < hi else {
        throw ConfigError(flag: flag, "'\(text)': the minimum must be below the maximum (the randomized range keeps elections from splitting forever)")
    }
    return (lo, hi)
}

/// HostPort is an address as written in settings: a DNS name (Kubernetes headless
/// services), an IPv4 address or a bracketed IPv6 address, and a port. Names are
/// resolved by the transport, off the event loop, and again on every reconnect.
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) { self.host = host; self.port = port }

    /// isWildcard: an address that listens everywhere and so tells nobody where to
    /// connect (0.0.0.0, ::).
    public var isWildcard: Bool { host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0" }

    public init(parsing text: String, flag: String) throws(ConfigError) {
        let t = text.trimmingSpaces
        let hostPart: Substring, portPart: Substring
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]"), t[t.index(after: close)...].hasPrefix(":") else {
                throw ConfigError(flag: flag, "'\(text)' is not [IPv6]:PORT")
            }
            hostPart = t[t.index(after: t.startIndex)..<close]
            portPart = t[t.index(close, offsetBy: 2)...]
        } else {
            guard let colon = t.lastIndex(of: ":") else {
                throw ConfigError(flag: flag, "'\(text)' has no port; write HOST:PORT, e.g. 127.0.0.1:7001")
            }
            hostPart = t[..<colon]
            portPart = t[t.index(after: colon)...]
            if hostPart.contains(":") {
                throw ConfigError(flag: flag, "'\(text)': put an IPv6 address in brackets, e.g. [::1]:7001")
            }
        }
        guard !hostPart.isEmpty, hostPart.count <= 253,
              hostPart.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }) else {
            throw ConfigError(flag: flag, "'\(text)' has an invalid host")
        }
        guard let port = UInt16(portPart), port > 0 else {
            throw ConfigError(flag: flag, "'\(text)' has a port that is not a number in 1...65535")
        }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Member is one entry of `--peers`: a name and the address its peer transport listens on,
/// and whether it is a witness (`NAME=HOST:PORT/witness`). On a new group these are the
/// founding members; on an existing data dir only a contact list (the stored membership
/// decides, design S6).
public struct Member: Hashable, Sendable {
    public var name: String
    public var peerAddress: HostPort
    public var witness: Bool
    public init(name: String, peerAddress: HostPort, witness: Bool = false) {
        self.name = name; self.peerAddress = peerAddress; self.witness = witness
    }
}

/// parsePeers reads `n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003/witness,…` (1 to 7
/// members, names unique).
public func parsePeers(_ text: String, flag: String = "--peers") throws(ConfigError) -> [Member] {
    var members: [Member] = []
    for item in text.split(separator: ",") {
        let kv = item.split(separator: "=", maxSplits: 1)
        guard kv.count == 2 else {
            throw ConfigError(flag: flag, "'\(item)' is not NAME=HOST:PORT (e.g. n1=127.0.0.1:7001)")
        }
        let name = String(kv[0]).trimmingSpaces
        guard isValidMemberName(String(name)) else {
            throw ConfigError(flag: flag, "'\(name)' is not a valid member name (1–63 letters, digits, '-', '_', '.')")
        }
        guard !members.contains(where: { $0.name == name }) else {
            throw ConfigError(flag: flag, "member '\(name)' is listed twice")
        }
        var addressText = Substring(kv[1]).trimmingSpaces
        let witness = addressText.hasSuffix("/witness")
        if witness { addressText = addressText.dropLast("/witness".count) }
        if addressText.contains("/") {
            throw ConfigError(flag: flag, "'\(item)': the only role a --peers entry can name is /witness (NAME=HOST:PORT/witness)")
        }
        let address = try HostPort(parsing: String(addressText), flag: flag)
        // Two members at one address would be one process answering for two votes.
        if let twin = members.first(where: { $0.peerAddress.host.lowercased() == address.host.lowercased() && $0.peerAddress.port == address.port }) {
            throw ConfigError(flag: flag, "members '\(twin.name)' and '\(name)' have the same address \(address); each member needs its own")
        }
        members.append(Member(name: String(name), peerAddress: address, witness: witness))
    }
    guard !members.isEmpty else { throw ConfigError(flag: flag, "no members; write n1=HOST:PORT,n2=HOST:PORT,…") }
    guard members.count <= 7 else {
        throw ConfigError(flag: flag, "\(members.count) members; Baton supports 1 to 7 voters (more slow every election)")
    }
    return members
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let s = self[...]
        guard let first = s.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return Substring("") }
        let last = s.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return Substring(s[first...last])
    }
}
