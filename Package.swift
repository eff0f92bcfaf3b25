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

let package = Package(
    name: "baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton-sim", targets: ["baton-sim"]),
        .executable(name: "baton-bench-server", targets: ["baton-bench-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The pure Raft state machine: no I/O, no clock reads, no Foundation.
        .target(name: "RaftCore", swiftSettings: sharedSettings),
        // Deterministic cluster simulator and the invariant checkers (test support).
        .target(name: "RaftSimulation", dependencies: ["RaftCore"], swiftSettings: sharedSettings),
        .executableTarget(
            name: "baton-sim",
            dependencies: [
                "RaftSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: sharedSettings),

        // The one thin layer that calls libc: errno, file descriptors, sockets, epoll, timers.
        .target(name: "Posix", swiftSettings: sharedSettings),
        // One-thread epoll loop: timers, wake-ups, child exits.
        .target(name: "EventLoop", dependencies: ["Posix"], swiftSettings: sharedSettings),
        // Pure incremental HTTP/1.1 request parser (also built alone by the fuzz script).
        .target(name: "HTTPParser", swiftSettings: sharedSettings),
        // HTTP/1.1 server on the event loop.
        .target(name: "HTTPServer", dependencies: ["EventLoop", "HTTPParser", "Posix"], swiftSettings: sharedSettings),
        // Server-only process used by bench/http.
        // Linked as a fixed-address (non-PIE) executable: with the static Swift runtime a
        // PIE spends ~0.7 MiB of idle RSS on load-time relocations (dirtied .data.rel.ro
        // pages and the .rela.dyn table read through fault-around), and idle RSS is one of
        // the benchmark's bars.
        .executableTarget(name: "baton-bench-server", dependencies: ["HTTPServer"], swiftSettings: sharedSettings,
                          linkerSettings: [.unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux]))]),

        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore", "RaftSimulation"], swiftSettings: sharedSettings),
        .testTarget(name: "RaftSimulationTests", dependencies: ["RaftSimulation"], swiftSettings: sharedSettings),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "Posix"], swiftSettings: sharedSettings),
        .testTarget(name: "HTTPParserTests", dependencies: ["HTTPParser"], swiftSettings: sharedSettings),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "EventLoop", "Posix"], swiftSettings: sharedSettings),
    ]
)
