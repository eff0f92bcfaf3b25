// `--check-url`, as written: `http://HOST[:PORT][/PATH]`. Pure parsing; the Hooks module
// resolves the host and runs the probe.

/// CheckURL is a parsed `http://HOST:PORT/PATH` (no TLS: the check talks to the
/// application on this machine or its network).
public struct CheckURL: Hashable, Sendable {
    /// A DNS name or an IP address (an IPv6 address without its brackets).
    public var host: String
    public var port: UInt16
    /// The request target, `/` when the URL has none.
    public var path: String

    /// hostHeader is the `Host` header a request to this URL carries.
    public var hostHeader: String { port == 80 ? host : "\(host):\(port)" }

    /// init(parsing:) reads the URL; errors say how to write it.
    public init(parsing url: String) throws(HookSyntaxError) {
        guard url.hasPrefix("http://") else {
            throw HookSyntaxError(message: "'\(url)' must start with http:// (https is not supported: check the application over plain HTTP on a local port)")
        }
        let rest = url.dropFirst(7)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = Substring(authority), port: UInt16 = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw HookSyntaxError(message: "'\(url)': IPv6 host without ]") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = UInt16(after.dropFirst()), p > 0 else { throw HookSyntaxError(message: "'\(url)': the port is not a number in 1...65535") }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = UInt16(authority[authority.index(after: colon)...]), p > 0 else {
                throw HookSyntaxError(message: "'\(url)': the port is not a number in 1...65535")
            }
            port = p
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }) else {
            throw HookSyntaxError(message: "'\(url)' has no valid host; write e.g. http://127.0.0.1:8080/health")
        }
        guard path.allSatisfy({ $0.isASCII && $0 > " " }) else {
            throw HookSyntaxError(message: "'\(url)': the path has spaces or non-ASCII characters; percent-encode them")
        }
        self.host = String(host)
        self.port = port
        self.path = path.isEmpty ? "/" : String(path)
    }
}
