// Name resolution. getaddrinfo blocks (it may ask a DNS server), so it is called only
// from a helper thread, never from the event loop.
import Glibc

/// Resolver turns a host name or numeric address and a port into socket addresses.
public enum Resolver {
    /// ResolveError says why a name did not resolve (getaddrinfo's own words).
    public struct ResolveError: Error, Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var reason: String
        public var description: String { "cannot resolve '\(host)': \(reason)" }
    }

    /// resolve returns every TCP address of `host` (IPv4 and IPv6), in getaddrinfo's
    /// order (RFC 6724 preference). Blocking: call it off the event loop.
    public static func resolve(host: String, port: UInt16) throws(ResolveError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            let reason = gai_strerror(rc).map { String(cString: $0) } ?? "error \(rc)"
            throw ResolveError(host: host, reason: reason)
        }
        defer { freeaddrinfo(list) }
        var out: [SocketAddress] = []
        var p = list
        while let info = p {
            if let sa = info.pointee.ai_addr, info.pointee.ai_addrlen <= socklen_t(MemoryLayout<sockaddr_storage>.size) {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(info.pointee.ai_addrlen)))
                }
                if let address = withUnsafePointer(to: &storage, { SocketAddress($0) }), !out.contains(address) {
                    out.append(address)
                }
            }
            p = info.pointee.ai_next
        }
        guard !out.isEmpty else { throw ResolveError(host: host, reason: "no TCP address") }
        return out
    }
}
