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

    /// tokenBytesMax bounds the token file (a token is a secret string, not a document).
    static let tokenBytesMax = 4096

    init(settings: AgentSettings) throws(ConfigError) {
        listensOnLoopbackOnly = Self.isLoopback(settings.apiListen.host)
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
    }

    /// decide checks `Authorization: Bearer TOKEN` in constant time when a token is set.
    func decide(_ request: borrowing HTTPRequest) -> Decision {
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
