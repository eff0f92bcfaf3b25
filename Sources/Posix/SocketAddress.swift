// IPv4 and IPv6 socket addresses, parsed from the `host:port` / `[v6]:port` text that
// flags and configuration files use.
import Glibc

/// SocketAddress is a numeric IPv4 or IPv6 address and a TCP port. Host names are not
/// resolved: a sidecar's listen and peer addresses are numeric, and resolving would
/// block the loop.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    enum Storage: Hashable, Sendable {
        case v4(address: UInt32, port: UInt16)          // both in network byte order
        case v6(address: [UInt8], port: UInt16, scope: UInt32)
    }
    let storage: Storage

    /// ParseError says what is wrong with an address text.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        case missingPort(String)
        case badPort(String)
        case badHost(String)
        public var description: String {
            switch self {
            case .missingPort(let s): "address '\(s)' has no ':PORT' (write 127.0.0.1:8080 or [::1]:8080)"
            case .badPort(let s): "address '\(s)' has a port that is not a number in 0...65535"
            case .badHost(let s): "address '\(s)' has a host that is not a numeric IPv4 or IPv6 address"
            }
        }
    }

    /// init(parsing:) accepts `1.2.3.4:80` and `[::1]:80`; port 0 asks the kernel for one.
    public init(parsing text: String) throws(ParseError) {
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .badHost(text) }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .missingPort(text) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .missingPort(text) }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw .badHost(text) }  // bare IPv6 must be bracketed
        }
        guard let port = UInt16(portText) else { throw .badPort(text) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            storage = .v4(address: v4.s_addr, port: port.bigEndian)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            storage = .v6(address: bytes, port: port.bigEndian, scope: 0)
            return
        }
        throw .badHost(text)
    }

    init(storage: Storage) { self.storage = storage }

    /// port is the TCP port in host byte order.
    public var port: UInt16 {
        switch storage {
        case .v4(_, let port): UInt16(bigEndian: port)
        case .v6(_, let port, _): UInt16(bigEndian: port)
        }
    }

    /// isIPv6 says which family `socket(2)` must use.
    public var isIPv6: Bool { if case .v6 = storage { true } else { false } }

    /// withPort returns the same host with another port.
    public func withPort(_ port: UInt16) -> SocketAddress {
        switch storage {
        case .v4(let a, _): SocketAddress(storage: .v4(address: a, port: port.bigEndian))
        case .v6(let a, _, let s): SocketAddress(storage: .v6(address: a, port: port.bigEndian, scope: s))
        }
    }

    /// host is the address without the port: `127.0.0.1`, `::1`.
    public var host: String {
        let text = description
        if isIPv6 { return String(text.dropFirst().prefix { $0 != "]" }) }
        return String(text.prefix { $0 != ":" })
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch storage {
        case .v4(let address, _):
            var a = in_addr(s_addr: address)
            _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            return "\(Self.string(text)):\(port)"
        case .v6(let address, _, _):
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { $0.copyBytes(from: address) }
            _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            return "[\(Self.string(text))]:\(port)"
        }
    }

    private static func string(_ cString: [CChar]) -> String {
        let bytes = cString.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// withSockaddr lends the C form of the address to a libc call.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(let address, let port):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port
            sa.sin_addr = in_addr(s_addr: address)
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(let address, let port, let scope):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port
            sa.sin6_scope_id = scope
            withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: address) }
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// init(sockaddr:) reads an address the kernel filled in (getsockname, accept).
    init?(_ storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sa = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            self.storage = .v4(address: sa.sin_addr.s_addr, port: sa.sin_port)
        case AF_INET6:
            var sa = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: &sa.sin6_addr) { Array($0) }
            self.storage = .v6(address: bytes, port: sa.sin6_port, scope: sa.sin6_scope_id)
        default:
            return nil
        }
    }
}
