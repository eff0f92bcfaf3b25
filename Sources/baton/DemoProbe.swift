// The demo asks the agents what a user would ask them: `GET /leader` and
// `GET /is-leader`. Unlike the client commands (which exit 2 when an agent cannot be
// reached), a probe of a node that is down or starting is an ordinary answer: nil.
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// DemoProbe makes one short HTTP/1.1 GET to a local agent.
enum DemoProbe {
    /// A probe waits at most this long for an answer; a live agent on loopback answers
    /// in well under a millisecond, so only a stopped (SIGSTOP) or dying agent hits it.
    static let answerTimeoutMs = 500
    /// Answers larger than this are cut off (the agent's are a few hundred bytes).
    static let maximumAnswerBytes = 64 * 1024

    /// get returns the status and body, or nil when nothing answered.
    static func get(port: Int, path: String) -> (status: Int, body: String)? {
        guard let address = try? SocketAddress(parsing: "127.0.0.1:\(port)"),
              let fd = try? Socket.connect(to: address) else { return nil }
        guard (try? Socket.setReceiveTimeoutMs(fd, answerTimeoutMs)) != nil else { return nil }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nUser-Agent: baton-demo\r\n\r\n"
        guard (try? Array(request.utf8).withUnsafeBytes({ try fd.writeAll($0) })) != nil else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while response.count < maximumAnswerBytes {
            guard let n = try? buffer.withUnsafeMutableBytes({ try fd.readBlocking(into: $0) }) else { return nil }
            if n == 0 { break }
            response += buffer[0..<n]
        }
        let head = Array("HTTP/1.1 ".utf8)
        guard response.count >= 12, Array(response[0..<9]) == head,
              let status = Int(String(decoding: response[9..<12], as: UTF8.self)) else { return nil }
        let separator = Array("\r\n\r\n".utf8)
        var body = ""
        if response.count >= 4 {
            for i in 0...(response.count - 4) where response[i..<(i + 4)].elementsEqual(separator) {
                body = String(decoding: response[(i + 4)...], as: UTF8.self)
                break
            }
        }
        return (status, body)
    }

    /// isLeader is true when the node answers `/is-leader` with 200 — in office by its
    /// lease at answer time.
    static func isLeader(port: Int) -> Bool {
        get(port: port, path: "/is-leader")?.status == 200
    }

    /// LeaderView is one node's `/leader` answer.
    struct LeaderView: Equatable {
        var leader: String?
        var term: UInt64
        var isSelf: Bool
    }

    /// leader reads `/leader`: the leader's id (nil on 503), the term and `self`.
    static func leader(port: Int) -> LeaderView? {
        guard let answer = get(port: port, path: "/leader"), let json = FlatJSON(answer.body) else { return nil }
        let term = json["term"].flatMap { UInt64($0) } ?? 0
        if answer.status == 200, let id = json["leader.id"] {
            return LeaderView(leader: id, term: term, isSelf: json["self"] == "true")
        }
        return LeaderView(leader: nil, term: term, isSelf: false)
    }
}
