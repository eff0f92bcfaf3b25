// Every limit and timeout of the HTTP server, in one place, with defaults.
public import HTTPParser
public import Time

/// HTTPServerConfiguration holds the server's limits and timeouts. Defaults suit the
/// agent's local API; tests shrink the timeouts to milliseconds.
public struct HTTPServerConfiguration: Hashable, Sendable {
    /// limits caps request line, header count and bytes, and body (see `HTTPLimits`).
    public var limits = HTTPLimits()
    /// connectionsMax is the connection cap: over it, new connections get a short 503
    /// and are closed, so a flood cannot exhaust descriptors or memory.
    public var connectionsMax = 1024
    /// headerReadTimeout bounds the time from a request's first byte (or from accept)
    /// to the end of its head: slowloris clients get 408 and are closed.
    public var headerReadTimeout = Interval.seconds(10)
    /// idleTimeout closes a kept-alive connection that sends nothing for this long.
    public var idleTimeout = Interval.seconds(60)
    /// bodyReadTimeout bounds the time from the end of the head to the end of the body.
    public var bodyReadTimeout = Interval.seconds(10)
    /// writeTimeout closes a connection whose client reads nothing of our pending
    /// output for this long.
    public var writeTimeout = Interval.seconds(10)
    /// lingerTimeout: after answering with `Connection: close`, the server shuts down
    /// its sending side and discards input for up to this long before closing, so the
    /// client reads the answer instead of a reset.
    public var lingerTimeout = Interval.seconds(2)
    /// outputBytesMax bounds unsent output per connection: at this much the server stops
    /// reading and parsing that connection's requests until the client reads (backpressure).
    public var outputBytesMax = 64 * 1024
    /// heldRequestsMax bounds long-poll requests held at once; over it, a handler's
    /// `.hold` is answered 503 at once.
    public var heldRequestsMax = 1024
    /// holdTimeoutMax caps how long any request may be held.
    public var holdTimeoutMax = Interval.minutes(5)
    /// timeoutCheckInterval is how often deadlines are checked: timeouts fire up to
    /// this much late.
    public var timeoutCheckInterval = Interval.milliseconds(100)
    /// listenBacklog is the kernel accept queue length.
    public var listenBacklog: Int32 = 511
    /// inputChunkBytes is each connection's initial read buffer; it grows on demand up
    /// to request line + headers + body limits.
    public var inputChunkBytes = 4096

    public init() {}

    /// ConfigurationError names the setting that is out of range.
    public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// validate checks every setting, so a bad value is refused before anything starts.
    public func validate() throws(ConfigurationError) {
        func need(_ ok: Bool, _ what: String) throws(ConfigurationError) {
            if !ok { throw ConfigurationError(description: "HTTP server configuration: \(what)") }
        }
        try need(limits.requestLineBytesMax >= 16, "requestLineBytesMax must be at least 16")
        try need(limits.headerCountMax >= 1, "headerCountMax must be at least 1")
        try need(limits.headerBytesMax >= 16, "headerBytesMax must be at least 16")
        try need(limits.bodyBytesMax >= 0, "bodyBytesMax cannot be negative")
        try need(limits.requestLineBytesMax + limits.headerBytesMax + limits.bodyBytesMax <= 64 << 20,
                 "request line + headers + body limits must stay under 64 MiB")
        try need(connectionsMax >= 1, "connectionsMax must be at least 1")
        try need(headerReadTimeout > .zero, "headerReadTimeout must be positive")
        try need(idleTimeout > .zero, "idleTimeout must be positive")
        try need(bodyReadTimeout > .zero, "bodyReadTimeout must be positive")
        try need(writeTimeout > .zero, "writeTimeout must be positive")
        try need(lingerTimeout >= .zero, "lingerTimeout cannot be negative")
        try need(outputBytesMax >= 1024, "outputBytesMax must be at least 1024")
        try need(heldRequestsMax >= 0, "heldRequestsMax cannot be negative")
        try need(holdTimeoutMax > .zero, "holdTimeoutMax must be positive")
        try need(timeoutCheckInterval >= .milliseconds(1) && timeoutCheckInterval <= .minutes(1),
                 "timeoutCheckInterval must be within 1ms...1m")
        try need(listenBacklog >= 1, "listenBacklog must be at least 1")
        try need(inputChunkBytes >= 256, "inputChunkBytes must be at least 256")
    }

    /// inputBytesMax is the most one connection buffers: a whole request at the limits.
    var inputBytesMax: Int {
        max(inputChunkBytes, limits.requestLineBytesMax + limits.headerBytesMax + limits.bodyBytesMax + 8)
    }
}

/// HTTPServerStatistics counts what the server did, for metrics and tests.
public struct HTTPServerStatistics: Hashable, Sendable {
    public var connectionsAccepted = 0
    /// connectionsRejected: answered 503 because of the connection cap.
    public var connectionsRejected = 0
    public var requests = 0
    public var parseErrors = 0
    public var headerTimeouts = 0
    public var idleTimeouts = 0
    public var bodyTimeouts = 0
    public var writeTimeouts = 0
    public var holdTimeouts = 0
    /// holdsRefused: `.hold` answered 503 because `heldRequestsMax` were held.
    public var holdsRefused = 0
    /// holdsEndedByPeerClose: held requests answered early because the client closed
    /// its sending side (it can send nothing more, and may be gone).
    public var holdsEndedByPeerClose = 0
    /// outputBytesPendingMax is the most unsent output any connection had (evidence
    /// that backpressure bounds it near `outputBytesMax`).
    public var outputBytesPendingMax = 0
    public init() {}
}
