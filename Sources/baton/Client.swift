// Client commands: talk to the local agent's HTTP API. Exit status is part of the
// interface (`baton is-leader && run-job`): 0 yes, 1 no, 2 cannot tell.
import ArgumentParser
import Posix

#if canImport(Glibc)
import Glibc
#endif

/// APIOptions names the agent to ask: `--api`, else BATON_API, else the default
/// `--api-listen` of a local agent.
struct APIOptions: ParsableArguments {
    @Option(help: "The agent's API, HOST:PORT or http://HOST:PORT (default: $BATON_API, else 127.0.0.1:7480).")
    var api: String?

    func address() -> String {
        var text = api ?? getenv("BATON_API").map { String(cString: $0) } ?? "127.0.0.1:7480"
        if text.hasPrefix("http://") { text.removeFirst(7) }
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}

/// HTTPAnswer is what a request returned.
struct HTTPAnswer {
    var status: Int
    var body: String
    /// headers: name (lower-cased) and value, in order.
    var headers: [(String, String)] = []

    func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
}

/// ClientError says why the agent could not be asked; `message` is for the user.
struct ClientError: Error {
    var message: String
}

/// call makes one HTTP/1.1 request with `Connection: close`, waiting at most
/// `timeoutMs` for the answer.
func call(_ method: String, _ path: String, from api: String, headers: [(String, String)] = [],
          timeoutMs: Int = 2_000) -> Result<HTTPAnswer, ClientError> {
    func unreachable(_ why: String) -> Result<HTTPAnswer, ClientError> {
        .failure(ClientError(message: "cannot reach the agent at \(api) (\(why)); is `baton agent` running there? Set --api or BATON_API"))
    }
    let address: SocketAddress
    do { address = try SocketAddress(parsing: api) } catch { return .failure(ClientError(message: "--api: \(error)")) }
    let fd: FileDescriptor
    do { fd = try Socket.connect(to: address) } catch { return unreachable("\(error)") }
    return exchange(fd, method, path, api: api, headers: headers, timeoutMs: timeoutMs)
}

/// exchange sends one request on a connected socket and reads the answer to its end.
private func exchange(_ fd: borrowing FileDescriptor, _ method: String, _ path: String, api: String,
                      headers: [(String, String)], timeoutMs: Int) -> Result<HTTPAnswer, ClientError> {
    func unreachable(_ why: String) -> Result<HTTPAnswer, ClientError> {
        .failure(ClientError(message: "cannot reach the agent at \(api) (\(why)); is `baton agent` running there? Set --api or BATON_API"))
    }
    do { try Socket.setReceiveTimeoutMs(fd, timeoutMs) } catch { return unreachable("\(error)") }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: \(api)\r\nConnection: close\r\nUser-Agent: baton\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if method == "POST" { request += "Content-Length: 0\r\n" }
    request += "\r\n"
    do { try Array(request.utf8).withUnsafeBytes { try fd.writeAll($0) } } catch { return unreachable("\(error)") }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    while response.count < 1 << 20 {
        let n: Int
        do { n = try buffer.withUnsafeMutableBytes { try fd.readBlocking(into: $0) } } catch { return unreachable("no answer: \(error)") }
        if n == 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard text.hasPrefix("HTTP/1."), let space = text.firstIndex(of: " "),
          let status = Int(text[text.index(after: space)...].prefix(3)) else { return unreachable("not an HTTP answer") }
    let headEnd = find(Array("\r\n\r\n".utf8), in: response)
    let body = headEnd.map { String(decoding: response[($0 + 4)...], as: UTF8.self) } ?? ""
    var fields: [(String, String)] = []
    if let headEnd {
        let head = String(decoding: response[..<headEnd], as: UTF8.self)
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
    }
    return .success(HTTPAnswer(status: status, body: body, headers: fields))
}

/// get makes one GET bounded to 2 s; any failure (nothing listening, timeout, garbage)
/// exits 2 with a message saying what to check.
func get(_ path: String, from api: String) -> HTTPAnswer {
    switch call("GET", path, from: api) {
    case .success(let answer): return answer
    case .failure(let error): die(error.message)
    }
}

/// printError writes `baton: message` to standard error.
func printError(_ message: String) {
    var line = "baton: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// jsonString extracts the string value of `"key":"…"` at the first match (the agent's
/// answers are flat and its own; a JSON library would cost the binary more than this).
func jsonString(_ key: String, in json: String) -> String? {
    let bytes = Array(json.utf8)
    let needle = Array("\"\(key)\":\"".utf8)
    guard let at = find(needle, in: bytes) else { return nil }
    let start = at + needle.count
    guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
    return String(decoding: bytes[start..<end], as: UTF8.self)
}

/// find returns where `needle` first occurs in `haystack` (no Foundation here).
func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
    }
    return nil
}

struct LeaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leader",
        abstract: "Print the leader's name.",
        discussion: "Exit status: 0 a leader is known, 1 none is (an election is on), 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions

    func run() throws {
        let answer = get("/leader", from: options.address())
        guard answer.status == 200, let name = jsonString("id", in: answer.body) else {
            let reason = jsonString("reason", in: answer.body) ?? "no leader"
            var line = "baton: \(reason)\n"
            line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
            throw ExitCode(1)
        }
        print(name)
    }
}

struct IsLeaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "is-leader",
        abstract: "Succeed only on the node in office: `baton is-leader && run-job`.",
        discussion: "Exit status: 0 this node is in office (decided from its lease now), 1 it is not, 2 the agent cannot be reached.")
    @OptionGroup var options: APIOptions

    func run() throws {
        let answer = get("/is-leader", from: options.address())
        if answer.status != 200 { throw ExitCode(1) }
    }
}
