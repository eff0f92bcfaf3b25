// The election's requests as calls of the etcd client: one map from the election's
// request ids to the client's call ids, so a cancelled watch reaches the right stream.
// Used by the runner below and by the agent's etcd port.
public import EtcdAPI
public import EtcdClient
public import EtcdElection
import Time

/// EtcdCalls starts requests with `client` and hands every answer to the reply closure
/// given with it (a watch's messages one by one, then its end as a failure).
public final class EtcdCalls {
    public let client: EtcdClient
    private var calls: [EtcdRequestID: EtcdCallID] = [:]

    public init(client: EtcdClient) { self.client = client }

    /// inFlight counts calls not answered yet (open watches included).
    public var inFlight: Int { calls.count }

    public func start(_ request: EtcdRequest, reply: @escaping (EtcdRequestID, Result<EtcdReply, EtcdFailure>) -> Void) {
        let id = request.id
        let isWatch = request.call.isWatch
        let timeoutMs = max(1, Int(request.timeout.nanoseconds / 1_000_000))
        calls[id] = client.start(request.call, timeoutMs: timeoutMs) { [weak self] result in
            guard let self else { return }
            // A watch lives on after each message; anything else ends with its answer.
            if !isWatch || (try? result.get()) == nil { self.calls[id] = nil }
            reply(id, result)
        }
    }

    public func cancel(_ id: EtcdRequestID) {
        if let c = calls.removeValue(forKey: id) { client.cancel(c) }
    }
}
