/// PeerEndpoint is a member as the transport needs it: the name it proves in the
/// handshake and the host and port to dial. The agent builds these from its settings;
/// the transport knows nothing of flags or config files.
public struct PeerEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    /// A DNS name (resolved again on every reconnect), an IPv4 or an IPv6 address
    /// (without brackets).
    public var host: String
    public var port: UInt16

    public init(name: String, host: String, port: UInt16) {
        self.name = name
        self.host = host
        self.port = port
    }

    /// address is `host:port`, or `[host]:port` for an IPv6 address.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String { "\(name)=\(address)" }
}
