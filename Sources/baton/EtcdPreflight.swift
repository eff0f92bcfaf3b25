// `baton agent --backend etcd --check-config`: what the etcd agent needs at start-up —
// its API address, endpoints that resolve, a data dir of its own — checked without
// starting it and without talking to etcd (nothing is changed, nothing is sent).
import AgentConfig
import EtcdClient
import Posix
import Storage

extension Preflight {
    static func etcdFindings(_ settings: AgentSettings) -> [Finding] {
        var out: [Finding] = []
        let hp = settings.apiListen
        do {
            let addresses = try Resolver.resolve(host: hp.host, port: hp.port)
            out.append(Finding(kind: .ok, flag: "--api-listen", message: "\(hp) is \(addresses.map(\.description).joined(separator: ", "))"))
        } catch {
            out.append(Finding(kind: .error, flag: "--api-listen", message: "\(error)"))
        }
        let etcd = settings.etcd!
        for url in etcd.endpoints {
            do { _ = try EtcdEndpoint(parsing: url) } catch {
                out.append(Finding(kind: .error, flag: "--etcd-endpoints", message: error.description))
                continue
            }
            out.append(Finding(kind: .ok, flag: "--etcd-endpoints", message: "\(url) resolves"))
        }
        out.append(Finding(kind: .ok, flag: "--etcd-prefix", message: "election keys under \(etcd.prefix)/election/, lease TTL \(etcd.leaseTTL)"))
        let dir = settings.dataDir
        do {
            let inspection = try DataDirectory.inspect(path: dir)
            if inspection.state != nil || inspection.identity != nil {
                out.append(Finding(kind: .error, flag: "--data-dir", message: "\(dir) holds a Raft member's state; give --backend etcd a data dir of its own"))
            } else if inspection.inUse {
                out.append(Finding(kind: .error, flag: "--data-dir", message: "\(dir) is in use by a running agent\(inspection.lockHolder.map { " (pid \($0))" } ?? "")"))
            } else {
                out.append(Finding(kind: .ok, flag: "--data-dir", message: inspection.exists ? "\(dir) is free" : "\(dir) does not exist; the agent will create it"))
            }
        } catch {
            out.append(Finding(kind: .error, flag: "--data-dir", message: "\(error)"))
        }
        return out
    }
}
