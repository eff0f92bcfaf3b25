// Who may call the admin endpoints (`POST /resign`): the holder of the admin token, or,
// without a token file, local clients only.
import AgentConfig
import HTTPParser
import HTTPServer

#if canImport(Glibc)
import Glibc
#endif

/// AdminAccess decides whether a request may use an admin endpoint.
///
/// The HTTP server does not tell a handler the client's address, so "loopback clients
/// only" is enforced through the listener: when the API listens on a loopback address
/// every client is local; on any other address an admin request without a token file is
/// refused (403), telling the operator to set `--admin-token-file`.
struct AdminAccess {
    /// token is the content of `--admin-token-file` without trailing white space.
    let token: [UInt8]?
    let listensOnLoopbackOnly: Bool
    /// Host names (lower case) an admin request's Host header may carry besides IP
    /// literals and `localhost`: the listen and advertised API hosts.
    let expectedHosts: Set<String>

    /// tokenBytesMax bounds the token file (a token is a secret string, not a document).
    static let tokenBytesMax = 4096

    init(settings: AgentSettings) throws(ConfigError) {
        listensOnLoopbackOnly = Self.isLoopback(settings.apiListen.host)
        expectedHosts = [settings.apiListen.host.lowercased(), settings.apiAdvertise.host.lowercased()]
        guard let path = settings.adminTokenFile else { token = nil; return }
        var bytes = try Self.readTokenFile(path)
        while let last = bytes.last, last == 0x0a || last == 0x0d || last == 0x20 || last == 0x09 { bytes.removeLast() }
        guard !bytes.isEmpty else {
            throw ConfigError(flag: "--admin-token-file", "\(path) is empty; put a token in it, e.g. 'head -c 24 /dev/urandom | base64 > \(path)'")
        }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw ConfigError(flag: "--admin-token-file", "\(path) must hold one line of printable ASCII without spaces (it is sent in an HTTP header)")
        }
        token = bytes
    }

    enum Decision: Equatable {
        case allowed
        /// 401: a token is required and was missing or wrong.
        case unauthorized
        /// 403: no token is configured and the client may not be local.
        case forbidden
        /// 403: a browser-made cross-site request, or a Host this agent is not (the
        /// reason says which).
        case crossSite(String)
    }

    /// decide refuses cross-site and rebound requests first, then checks
    /// `Authorization: Bearer TOKEN` in constant time when a token is set.
    func decide(_ request: borrowing HTTPRequest) -> Decision {
        if let refusal = crossSiteRefusal(request) { return .crossSite(refusal) }
        guard let token else { return listensOnLoopbackOnly ? .allowed : .forbidden }
        guard let value = request.header("Authorization") else { return .unauthorized }
        let prefix = Array("bearer ".utf8)
        guard value.count > prefix.count else { return .unauthorized }
        for i in 0..<prefix.count where value[i] | 0x20 != prefix[i] { return .unauthorized }
        let given = UnsafeRawBufferPointer(rebasing: value[prefix.count...])
        return Self.constantTimeEqual(given, token) ? .allowed : .unauthorized
    }

    /// constantTimeEqual takes the same time wherever the first difference is, so the
    /// token cannot be guessed byte by byte from answer times (only its length shows).
    static func constantTimeEqual(_ given: UnsafeRawBufferPointer, _ wanted: [UInt8]) -> Bool {
        var difference: UInt8 = given.count == wanted.count ? 0 : 1
        for i in 0..<wanted.count {
            difference |= (i < given.count ? given[i] : 0) ^ wanted[i]
        }
        return difference == 0
    }

    // MARK: Cross-site requests and DNS rebinding (issue 15)
    //
    // A web page can make a browser POST to http://127.0.0.1:PORT/resign: a form post
    // needs no CORS preflight, and the default API (loopback, no token) would obey. So an
    // admin request is refused when the browser says it is cross-site (Sec-Fetch-Site),
    // when it carries an Origin other than this API's own, when its body type is one a
    // form or a simple fetch can send without a preflight (the CORS-safelisted types), or
    // when its Host is a name this agent does not answer to (a rebound DNS name pointing
    // at 127.0.0.1). Command-line clients (curl, `baton resign`) send none of these.
    // Facts from the Fetch standard (CORS-safelisted request headers, Sec-Fetch-Site)
    // and the usual rebinding defence of checking Host.

    /// crossSiteRefusal: why this request looks browser-made from another site, or nil.
    func crossSiteRefusal(_ request: borrowing HTTPRequest) -> String? {
        if let site = request.header("Sec-Fetch-Site").map(Self.lowercased), site != "same-origin" && site != "none" {
            return "Sec-Fetch-Site: \(site) (a browser request from another site)"
        }
        let host = request.header("Host").map(Self.lowercased)
        if let host, !hostIsExpected(host) {
            return "Host '\(host)' is not a name of this agent (a rebound DNS name?); use an IP address, localhost or --api-advertise's host"
        }
        if let origin = request.header("Origin").map(Self.lowercased) {
            guard let host, origin == "http://" + host || origin == "https://" + host else {
                return "Origin '\(origin)' is not this API's own"
            }
        }
        if let type = request.header("Content-Type").map(Self.lowercased) {
            let essence = String(type.prefix { $0 != ";" }).trimmingSpaces()
            if ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"].contains(essence) {
                return "Content-Type \(essence) is what a cross-site form sends; send no body (or application/json)"
            }
        }
        return nil
    }

    /// hostIsExpected: an IP literal, localhost, or the listen/advertised host, with an
    /// optional port. A DNS rebinding attack needs a name of the attacker's.
    func hostIsExpected(_ hostHeader: String) -> Bool {
        var name = hostHeader
        if name.hasPrefix("[") {  // [v6]:port
            return name.contains("]")
        }
        if let colon = name.lastIndex(of: ":"), name[name.index(after: colon)...].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            name = String(name[..<colon])
        }
        if name == "localhost" || expectedHosts.contains(name) { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    }

    static func lowercased(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }

    static func readTokenFile(_ path: String) throws(ConfigError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ConfigError(flag: "--admin-token-file", "cannot read \(path): \(reason); create it with a token (e.g. 'head -c 24 /dev/urandom | base64 > \(path); chmod 600 \(path)')")
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigError(flag: "--admin-token-file", "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return out }
            out += chunk[0..<n]
            if out.count > tokenBytesMax {
                throw ConfigError(flag: "--admin-token-file", "\(path) is over \(tokenBytesMax) bytes; a token is one short line")
            }
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
