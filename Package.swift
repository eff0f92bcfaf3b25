// swift-tools-version: 6.1
//
// Baton: a leader-election sidecar. One folder per module, named for what it does;
// data flows RaftCore -> RaftSimulation (tests) and Posix -> EventLoop -> HTTPServer.
import PackageDescription

/// Compiler settings every target shares: Swift 6 language mode with strict
/// concurrency is the package default (tools 6.x); these add the rest in one place.
let sharedSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Executables whose idle RSS is a benchmark figure link without PIE (see the comment
/// at baton-bench-server).
let fixedAddressLinking: [LinkerSetting] = [.unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux]))]

let package = Package(
    name: "baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
        .executable(name: "baton-sim", targets: ["baton-sim"]),
        .executable(name: "baton-bench-server", targets: ["baton-bench-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // swift-crypto 4.x for HMAC-SHA256 (3.x imports all of Foundation).
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // GET /metrics: Prometheus text format (swift-metrics + atomics; no Foundation).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Instant, Interval and the one duration grammar (`150ms`, `2s`, `1m30s`): a leaf,
        // so every layer that touches time passes these instead of raw milliseconds.
        .target(name: "Time", swiftSettings: sharedSettings),
        .testTarget(name: "TimeTests", dependencies: ["Time", "RaftCore"], swiftSettings: sharedSettings),
        // The pure Raft state machine: no I/O, no clock reads, no Foundation.
        .target(name: "RaftCore", dependencies: ["Time"], swiftSettings: sharedSettings),
        // Deterministic cluster simulator and the invariant checkers (test support).
        .target(name: "RaftSimulation", dependencies: ["RaftCore", "AgentDriver", "AgentLogging", "Membership"], swiftSettings: sharedSettings),
        .executableTarget(
            name: "baton-sim",
            dependencies: [
                "RaftSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: sharedSettings),

        // The one thin layer that calls libc: errno, file descriptors, sockets, epoll, timers.
        // The guard process between the agent and a hook (fork/exec in C: async-signal-safe).
        .target(name: "CHookGuard"),
        .target(name: "Posix", dependencies: ["Time", "CHookGuard"], swiftSettings: sharedSettings),
        // One-thread epoll loop: timers, wake-ups, child exits.
        .target(name: "EventLoop", dependencies: ["Posix", "Time"], swiftSettings: sharedSettings),
        // Pure incremental HTTP/1.1 request parser (also built alone by the fuzz script).
        .target(name: "HTTPParser", swiftSettings: sharedSettings),
        .target(name: "BlockingHTTP", dependencies: ["HTTPParser", "Posix", "Time"], swiftSettings: sharedSettings),
        // A small strict JSON reader and writer (pure; numbers keep their text so 64-bit
        // integers stay exact). Used by the etcd client; meant to become the one JSON reader.
        .target(name: "JSON", swiftSettings: sharedSettings),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: sharedSettings),
        // etcd's v3 API as values and their JSON-gateway encoding (pure).
        .target(name: "EtcdAPI", dependencies: ["JSON"], swiftSettings: sharedSettings),
        .testTarget(name: "EtcdAPITests", dependencies: ["EtcdAPI", "JSON"], swiftSettings: sharedSettings),
        // An etcd v3 client on the event loop: HTTP/1.1 to the JSON gateway, failover, back-off.
        .target(name: "EtcdClient", dependencies: ["EtcdAPI", "JSON", "HTTPParser", "EventLoop", "Posix", "Time"], swiftSettings: sharedSettings),
        .testTarget(name: "EtcdClientTests", dependencies: ["EtcdClient", "EtcdAPI", "EtcdElection", "EventLoop", "Posix", "Time"],
                    swiftSettings: sharedSettings),
        // The election through etcd as a pure state machine (lease, key in line, watch; design §2 arithmetic).
        .target(name: "EtcdElection", dependencies: ["EtcdAPI", "JSON", "Time"], swiftSettings: sharedSettings),
        .testTarget(name: "EtcdElectionTests", dependencies: ["EtcdElection", "EtcdAPI", "Time", "RaftCore", "AgentDriver", "AgentLogging"], swiftSettings: sharedSettings),
        // Runs an EtcdElection with the client on the loop (the I/O shell the agent will use).
        .target(name: "EtcdEngine", dependencies: ["EtcdClient", "EtcdElection", "EtcdAPI", "EventLoop", "Posix", "Time"],
                swiftSettings: sharedSettings),
        // Test and benchmark helper: one etcd election candidate per process, events as JSON lines.
        .executableTarget(name: "baton-etcd-probe", dependencies: ["EtcdEngine", "EtcdClient", "EtcdElection", "EventLoop", "Posix", "JSON", "Time"],
                          swiftSettings: sharedSettings),
        // HTTP/1.1 server on the event loop.
        .target(name: "HTTPServer", dependencies: ["EventLoop", "HTTPParser", "Posix", "Time"], swiftSettings: sharedSettings),
        // Server-only process used by bench/http.
        // Linked as a fixed-address (non-PIE) executable: with the static Swift runtime a
        // PIE spends ~0.7 MiB of idle RSS on load-time relocations (dirtied .data.rel.ro
        // pages and the .rela.dyn table read through fault-around), and idle RSS is one of
        // the benchmark's bars.
        .executableTarget(name: "baton-bench-server", dependencies: ["HTTPServer"], swiftSettings: sharedSettings,
                          linkerSettings: fixedAddressLinking),

        // Durable term/vote and log in the data dir, behind a lock file.
        .target(name: "Storage", dependencies: ["RaftCore", "Checksum", "Posix"], swiftSettings: sharedSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "RaftCore", "Checksum", "Posix"], swiftSettings: sharedSettings),
        // CRC32C, shared by the stored records and the peer frames.
        .target(name: "Checksum", swiftSettings: sharedSettings),
        // Peer frames, the authenticated handshake and the Raft message codec (pure).
        .target(
            name: "PeerWire",
            dependencies: ["RaftCore", "Checksum", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: sharedSettings),
        .testTarget(name: "PeerWireTests", dependencies: ["PeerWire", "RaftCore", "Checksum"], swiftSettings: sharedSettings),
        // How hook commands and the check URL are written: shell-like word splitting and
        // `http://HOST:PORT/PATH`, pure (a leaf, so settings can check them without Hooks).
        .target(name: "HookSyntax", swiftSettings: sharedSettings),
        .testTarget(name: "HookSyntaxTests", dependencies: ["HookSyntax"], swiftSettings: sharedSettings),
        // Hook and check commands: runs on the loop with captured output and timeouts,
        // and the hook queue's ordering rules (design S4; issue 6).
        .target(name: "Hooks", dependencies: ["EventLoop", "Posix", "HookSyntax", "HTTPParser", "Time"], swiftSettings: sharedSettings),
        .testTarget(name: "HooksTests", dependencies: ["Hooks", "EventLoop", "Posix", "Time"], swiftSettings: sharedSettings),
        // The agent's log: levels, typed fields, text or JSON, rate limits, and a bounded
        // buffer that never blocks the loop (pure: the output is handed in; issue 15, 17).
        .target(name: "AgentLogging", swiftSettings: sharedSettings),
        .testTarget(name: "AgentLoggingTests", dependencies: ["AgentLogging"], swiftSettings: sharedSettings),
        // The agent's logic as a deterministic state machine over small ports: the core,
        // persist-before-send, hook sequencing, check gating, start-up, shutdown, resign
        // and the one AgentView (pure: no I/O, no clock, no threads; issue 13).
        .target(name: "AgentDriver", dependencies: ["RaftCore", "AgentLogging", "Membership", "EtcdElection", "EtcdAPI"], swiftSettings: sharedSettings),
        // The scenario-file format shared by the core's and the driver's scenario tests.
        .target(name: "ScenarioText", swiftSettings: sharedSettings),
        .testTarget(name: "AgentDriverTests", dependencies: ["AgentDriver", "AgentLogging", "RaftCore", "ScenarioText", "Membership"], exclude: ["scenarios"],
                    swiftSettings: sharedSettings),
        // The agent's settings: flags over environment over file, validated with
        // errors that name the flag and the fix (pure; issue 4).
        .target(name: "AgentConfig", dependencies: ["RaftCore", "HookSyntax", "AgentLogging", "Membership", "EtcdElection"], swiftSettings: sharedSettings),
        .testTarget(name: "AgentConfigTests", dependencies: ["AgentConfig", "AgentLogging", "RaftCore"], swiftSettings: sharedSettings),
        // Membership as the agent sees it (design S6): names to ids, group fingerprints,
        // the founding configuration, operator requests, learner promotion, admission.
        .target(name: "Membership", dependencies: ["RaftCore"], swiftSettings: sharedSettings),
        .testTarget(name: "MembershipTests", dependencies: ["Membership", "RaftCore"], swiftSettings: sharedSettings),
        // TCP between agents on the event loop: dial, handshake, bounded queues, back-off.
        .target(name: "PeerTransport", dependencies: ["PeerWire", "EventLoop", "Posix", "RaftCore"], swiftSettings: sharedSettings),
        .testTarget(name: "PeerTransportTests", dependencies: ["PeerTransport", "PeerWire", "EventLoop", "Posix", "RaftCore"], swiftSettings: sharedSettings),
        // The driver joining core, storage, transport and HTTP on the loop (issue 4).
        .target(name: "Agent", dependencies: ["AgentLogging", "BlockingHTTP", "AgentDriver", "Membership", "JSON", "RaftCore", "Storage", "EtcdEngine", "EtcdClient", "EtcdElection", "EtcdAPI", "PeerTransport", "PeerWire", "HTTPServer", "HTTPParser", "EventLoop", "Posix", "AgentConfig", "Hooks", "HookSyntax", "Systemd", "Time",
                                         .product(name: "Prometheus", package: "swift-prometheus")], swiftSettings: sharedSettings),
        .executableTarget(
            name: "baton",
            dependencies: ["Agent", "AgentConfig", "AgentLogging", "BlockingHTTP", "EtcdClient", "EventLoop", "Hooks", "HTTPParser", "JSON", "Posix", "RaftCore", "Storage", "Time",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: sharedSettings, linkerSettings: fixedAddressLinking),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore", "RaftSimulation", "ScenarioText"], exclude: ["scenarios"], swiftSettings: sharedSettings),
        .testTarget(name: "RaftSimulationTests", dependencies: ["RaftSimulation", "AgentDriver"], swiftSettings: sharedSettings),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "Posix", "Time"], swiftSettings: sharedSettings),
        .testTarget(name: "HTTPParserTests", dependencies: ["HTTPParser"], swiftSettings: sharedSettings),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "EventLoop", "Posix", "Time"], swiftSettings: sharedSettings),

        // The notify protocol natively, sd-bus from libsystemd.so.0 through dlopen on first
        // use (--leader-unit only): nothing links libsystemd (see its header).
        .target(name: "CSystemd"),
        // sd_notify (READY/STATUS/WATCHDOG/STOPPING) and --leader-unit StartUnit/StopUnit over sd-bus.
        .target(name: "Systemd", dependencies: ["CSystemd", "EventLoop", "Posix", "Time"], exclude: ["README.md"],
                swiftSettings: sharedSettings),
        // Test helper: runs ServiceNotifier / UnitController in a process of its own, so tests
        // can hand it NOTIFY_SOCKET, WATCHDOG_* and DBUS_*_BUS_ADDRESS as systemd would.
        // Linked like `baton` (non-PIE).
        .executableTarget(name: "baton-systemd-probe", dependencies: ["Systemd", "EventLoop", "Posix", "Time"],
                          swiftSettings: sharedSettings, linkerSettings: fixedAddressLinking),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd", "EventLoop", "Posix", "Time"],
                    exclude: ["mock_systemd_manager.py"], swiftSettings: sharedSettings),
    ]
)
