// Real clients against the running server: curl and python3's http.client.
import Foundation
import HTTPServer
import Posix
import Testing

func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite(.serialized) struct RealClientTests {
    @Test func curlGetHeadPostAndKeepAlive() throws {
        let server = try TestServer()
        defer { server.stop() }
        let base = "http://\(server.address)"
        let get = try run("/usr/bin/curl", ["-sS", "--fail", "\(base)/a", "\(base)/b"])
        #expect(get.status == 0)
        #expect(get.output == "AB")
        let verbose = try run("/usr/bin/curl", ["-sS", "-v", "\(base)/a", "\(base)/b"])
        #expect(verbose.output.contains("Re-using existing connection"))
        let head = try run("/usr/bin/curl", ["-sS", "-I", "\(base)/big"])
        #expect(head.output.contains("HTTP/1.1 200 OK"))
        #expect(head.output.contains("Content-Length: 32768"))
        // curl sends Expect: 100-continue for large bodies; force it for a small one too.
        let post = try run("/usr/bin/curl", ["-sS", "-H", "Expect: 100-continue", "--data-binary", "payload", "\(base)/echo"])
        #expect(post.output == "got 7: payload")
        let missing = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(base)/missing"])
        #expect(missing.output == "404")
        let http10 = try run("/usr/bin/curl", ["-sS", "--http1.0", "\(base)/c"])
        #expect(http10.output == "C")
    }

    @Test func pythonHttpClient() throws {
        let server = try TestServer()
        defer { server.stop() }
        let script = """
            import http.client, sys
            c = http.client.HTTPConnection("127.0.0.1", \(server.address.port), timeout=5)
            out = []
            for path in ["/a", "/b", "/missing", "/query?name=x%20y"]:
                c.request("GET", path)
                r = c.getresponse()
                out.append("%d %s" % (r.status, r.read().decode()))
            c.request("HEAD", "/big")
            r = c.getresponse(); r.read()
            out.append("%d %s" % (r.status, r.getheader("Content-Length")))
            c.request("POST", "/echo", body=b"abc")
            r = c.getresponse()
            out.append("%d %s" % (r.status, r.read().decode()))
            c.request("DELETE", "/a")
            r = c.getresponse(); r.read()
            out.append("%d %s" % (r.status, r.getheader("Allow")))
            sys.stdout.write("|".join(out))
            """
        let result = try run("/usr/bin/python3", ["-c", script])
        #expect(result.status == 0)
        #expect(result.output == "200 A|200 B|404 not found\n|200 x y|200 32768|200 got 3: abc|405 GET, HEAD")
    }
}
