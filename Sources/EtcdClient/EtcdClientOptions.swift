// Where etcd is and what the client may spend talking to it.
public import Posix

/// EtcdEndpoint is one member's client URL, `http://HOST:PORT`.
public struct EtcdEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// address is where to connect (host names are resolved once, when parsed).
    public var address: SocketAddress
    /// hostHeader is the URL's `HOST:PORT`, sent as the Host field.
    public var hostHeader: String

    public var description: String { "http://\(hostHeader)" }

    /// ParseError says what is wrong with an endpoint URL.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var url: String
        public var reason: String
        public var description: String { "etcd endpoint '\(url)': \(reason)" }
    }

    public init(address: SocketAddress, hostHeader: String) {
        self.address = address
        self.hostHeader = hostHeader
    }

    /// init(parsing:) accepts `http://HOST:PORT` (HOST numeric IPv4, `[IPv6]`, or a name
    /// resolved here, blocking: parse endpoints at start-up, never on the event loop).
    /// TLS (`https://`) is not implemented yet: refused with a message saying so.
    public init(parsing url: String) throws(ParseError) {
        if url.hasPrefix("https://") {
            throw ParseError(url: url, reason: "TLS is not supported yet; use an http:// endpoint (a client URL without TLS)")
        }
        guard url.hasPrefix("http://") else { throw ParseError(url: url, reason: "must start with http://") }
        var rest = Substring(url.dropFirst("http://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
            throw ParseError(url: url, reason: "must be http://HOST:PORT with no path, user or query")
        }
        let authority = String(rest)
        if let numeric = try? SocketAddress(parsing: authority) {
            self.init(address: numeric, hostHeader: authority)
            return
        }
        guard let colon = authority.lastIndex(of: ":"), !authority.hasPrefix("["),
              let port = UInt16(authority[authority.index(after: colon)...]) else {
            throw ParseError(url: url, reason: "needs a port (etcd's client port is usually 2379)")
        }
        let host = String(authority[..<colon])
        do throws(Resolver.ResolveError) {
            let addresses = try Resolver.resolve(host: host, port: port)
            self.init(address: addresses[0], hostHeader: authority)
        } catch {
            throw ParseError(url: url, reason: error.description)
        }
    }

    /// parseList(_:) splits a comma-separated `--etcd-endpoints` value.
    public static func parseList(_ text: String) throws(ParseError) -> [EtcdEndpoint] {
        var endpoints: [EtcdEndpoint] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let url = part.trimmingSpaces
            guard !url.isEmpty else { throw ParseError(url: text, reason: "empty element in the endpoint list") }
            endpoints.append(try EtcdEndpoint(parsing: url))
        }
        guard endpoints.count <= EtcdClientOptions.endpointCountMax else {
            throw ParseError(url: text, reason: "more than \(EtcdClientOptions.endpointCountMax) endpoints")
        }
        return endpoints
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// EtcdClientOptions bounds everything the client holds (style rule 11).
public struct EtcdClientOptions: Hashable, Sendable {
    /// endpointCountMax bounds `endpoints` (a cluster has 1–7 members in practice).
    public static let endpointCountMax = 16

    public var endpoints: [EtcdEndpoint]
    /// connectTimeoutMs: a connection not established by then counts as a failed endpoint.
    public var connectTimeoutMs: Int = 1000
    /// connectionCountMax: connections for ordinary calls (watches have their own).
    public var connectionCountMax: Int = 4
    /// watchCountMax: concurrent watch streams (each holds a connection).
    public var watchCountMax: Int = 4
    /// queuedCallCountMax: calls waiting for a connection; more are refused at once.
    public var queuedCallCountMax: Int = 64
    /// answerBytesMax: one answer body, or one message of a stream.
    public var answerBytesMax: Int = 4 << 20
    /// headBytesMax: one response head.
    public var headBytesMax: Int = 16 * 1024
    /// backoffInitialMs / backoffMaxMs: after a failure an endpoint is not dialled again
    /// for this long, doubling with each further failure (reset by a success).
    /// The cap stays below an election's keep-alive interval at TTL 2 s, so an etcd that
    /// comes back is dialled again before an office could lapse for want of trying.
    public var backoffInitialMs: Int = 100
    public var backoffMaxMs: Int = 500
    /// requireLeader sends gRPC metadata `hasleader: true`, so a member cut off from
    /// its cluster's leader fails the call (and ends a watch) instead of serving stale
    /// or silent answers (etcd's clientv3.WithRequireLeader).
    public var requireLeader = true
    /// unacknowledgedTimeoutMs is TCP_USER_TIMEOUT: data unacknowledged this long ends
    /// the connection (a member whose host vanished), instead of minutes of retransmits.
    public var unacknowledgedTimeoutMs: Int = 5000

    public init(endpoints: [EtcdEndpoint]) { self.endpoints = endpoints }

    /// validate() refuses options the client cannot work with.
    public func validate() throws(EtcdEndpoint.ParseError) {
        func fail(_ reason: String) -> EtcdEndpoint.ParseError { EtcdEndpoint.ParseError(url: "", reason: reason) }
        guard !endpoints.isEmpty else { throw fail("no etcd endpoint given") }
        guard endpoints.count <= Self.endpointCountMax else { throw fail("more than \(Self.endpointCountMax) endpoints") }
        guard connectTimeoutMs > 0, connectionCountMax > 0, watchCountMax >= 0, queuedCallCountMax > 0,
              answerBytesMax >= 1024, headBytesMax >= 1024, backoffInitialMs > 0, backoffMaxMs >= backoffInitialMs else {
            throw fail("a client limit is out of range")
        }
    }
}
