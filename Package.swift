// swift-tools-version:6.1
// Latchkey: a secrets vault and key-management daemon for CI systems.
//
// Modules by layer, dependencies one way (→ = "is used by"):
//
//   LatchkeyCrypto ──→ LatchkeySSH ──┐
//        │                           │
//        ├──→ LatchkeyStore ──→ LatchkeyAudit ──┐
//        └──→ LatchkeySCM ──────────────────────┤
//   LatchkeyPolicy ─────────────────────────────┼──→ LatchkeyCore ──→ LatchkeyServer ──→ LatchkeyCLI ──→ latchkey
//   LatchkeyAPI (wire types) ───────────────────┘     (no sockets)     (NIO adapter)         ↑
//        └──→ LatchkeyClient ─────────────────────────────────────────────────────────────┘
//
//   LatchkeySCM ──→ LatchkeySCMTransport ──→ LatchkeyServer   (the SCM wire: async-http-client and
//                                                              NIOSSL; the server hands it to the core)
//   LatchkeyStore ──→ LatchkeyPostgres ──→ LatchkeyServer, LatchkeyCLI   (the store on PostgreSQL:
//                                                              postgres-nio; the adapter opens it and
//                                                              hands the core a Store on it)
//
// LatchkeyCore holds the vault's state and decisions (endpoint table, router, release
// decision, sessions, what to ask the SCM servers) and depends on NIOCore only for
// ByteBuffer/EventLoop; LatchkeySCM, the SCM servers' APIs it uses, opens no socket
// either. The adapter LatchkeyServer adds NIOPosix/NIOHTTP1 (socket server, HTTP handler,
// request clock, peer credentials, session agent sockets) and passes the core the SCM
// transport of LatchkeySCMTransport (async-http-client, NIOSSL). A test
// (CoreIsSocketFreeTests) holds the core's dependencies to this. LatchkeyFuzz drives the
// server for libFuzzer.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Latchkey",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "latchkey", targets: ["latchkey"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium", pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),

        .target(name: "CSystemShims"),

        .target(name: "LatchkeyCrypto", dependencies: ["CSodium"], swiftSettings: strict),
        .target(name: "LatchkeySSH", dependencies: ["LatchkeyCrypto", "CSodium", "COpenSSL"], swiftSettings: strict),
        .target(
            name: "LatchkeyStore",
            dependencies: ["LatchkeyCrypto", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")],
            swiftSettings: strict),
        // The store on PostgreSQL (a fleet's shared database), over postgres-nio: a module of
        // its own, so that the core, which uses LatchkeyStore, stays socket-free.
        .target(
            name: "LatchkeyPostgres",
            dependencies: [
                "LatchkeyStore", "LatchkeyCrypto", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "LatchkeyAudit",
            dependencies: [
                "LatchkeyCrypto", "LatchkeyStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict),
        .target(
            name: "LatchkeyPolicy",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(name: "LatchkeyAPI", swiftSettings: strict),
        // What Latchkey says to the SCM servers (GitHub Enterprise, GitLab, Bitbucket Server / DC):
        // requests, adapters, retry decisions, webhook signatures; no socket.
        .target(name: "LatchkeySCM", dependencies: ["LatchkeyCrypto", "COpenSSL"], swiftSettings: strict),
        // The wire under it: async-http-client, TLS by swift-nio-ssl (used by the server module).
        .target(
            name: "LatchkeySCMTransport",
            dependencies: [
                "LatchkeySCM", "LatchkeyCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict),
        .target(
            name: "LatchkeyCore",
            dependencies: [
                "LatchkeyAPI", "LatchkeyCrypto", "LatchkeySSH", "LatchkeyStore", "LatchkeyAudit", "LatchkeyPolicy",
                "LatchkeySCM", "CSystemShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        .target(
            name: "LatchkeyServer",
            dependencies: [
                "LatchkeyCore", "LatchkeyAPI", "LatchkeyCrypto", "LatchkeySSH", "LatchkeyStore", "LatchkeyAudit", "LatchkeyPolicy",
                "LatchkeySCMTransport", "CSystemShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(name: "LatchkeyClient", dependencies: ["LatchkeyAPI"], swiftSettings: strict),
        .target(
            name: "LatchkeyCLI",
            dependencies: [
                "LatchkeyAPI", "LatchkeyClient", "LatchkeyServer", "LatchkeyCrypto", "LatchkeySSH",
                "LatchkeyStore", "LatchkeyPostgres", "LatchkeyAudit", "LatchkeyPolicy", "CSystemShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(name: "latchkey", dependencies: ["LatchkeyCLI"], swiftSettings: strict),
        // The libFuzzer targets' bodies (scripts/fuzz links them into a -sanitize=fuzzer harness).
        .target(
            name: "LatchkeyFuzz",
            dependencies: [
                "LatchkeyCrypto", "LatchkeySSH", "LatchkeyStore", "LatchkeyAudit", "LatchkeyPolicy", "LatchkeyServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),

        // Running real tools from tests; shared by every test target.
        .target(name: "LatchkeyTestSupport", path: "Tests/LatchkeyTestSupport", swiftSettings: strict),
        // Faithful fakes of the three SCM servers over real TLS on loopback (not part of the product).
        .target(
            name: "SCMFakes",
            dependencies: [
                "LatchkeyTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/SCMFakes", exclude: ["README.md"],
            swiftSettings: strict),
        .testTarget(
            name: "LatchkeySCMTests",
            dependencies: ["LatchkeyTestSupport", "SCMFakes", "LatchkeySCM", "LatchkeySCMTransport", "LatchkeyCrypto"],
            swiftSettings: strict),
        // Tests find their vector files through #filePath (Tests/<target>/Vectors).
        .testTarget(name: "LatchkeyCryptoTests", dependencies: ["LatchkeyTestSupport", "LatchkeyCrypto"], swiftSettings: strict),
        .testTarget(
            name: "LatchkeySSHTests", dependencies: ["LatchkeyTestSupport", "LatchkeySSH", "LatchkeyCrypto"], exclude: ["Vectors", "CertificateVectors"], swiftSettings: strict),
        .testTarget(
            name: "LatchkeyStoreTests",
            dependencies: ["LatchkeyTestSupport", "LatchkeyStore", "LatchkeyCrypto", .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["BindingVectors"], swiftSettings: strict),
        // Against a real PostgreSQL server the tests start themselves (LatchkeyTestSupport).
        .testTarget(
            name: "LatchkeyPostgresTests",
            dependencies: ["LatchkeyTestSupport", "LatchkeyPostgres", "LatchkeyStore", "LatchkeyCrypto", "LatchkeyAudit"],
            swiftSettings: strict),
        .testTarget(
            name: "LatchkeyAuditTests",
            dependencies: ["LatchkeyTestSupport", "LatchkeyAudit", "LatchkeyStore", "LatchkeyCrypto", .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["Vectors"], swiftSettings: strict),
        // Real binaries: `latchkey serve` as a subprocess, the CLI, sshd, ssh, git, curl.
        .testTarget(
            name: "EndToEndTests", dependencies: ["LatchkeyTestSupport", "SCMFakes", "latchkey", "LatchkeyClient", "LatchkeyAPI", "LatchkeyCrypto"],
            swiftSettings: strict),
        // Replays the committed fuzz corpus (Fuzz/corpus/<target>) through every target.
        .testTarget(name: "LatchkeyFuzzTests", dependencies: ["LatchkeyFuzz"], swiftSettings: strict),
        .testTarget(name: "LatchkeyClientTests", dependencies: ["LatchkeyTestSupport", "LatchkeyClient"], swiftSettings: strict),
        .testTarget(name: "LatchkeyPolicyTests", dependencies: ["LatchkeyTestSupport", "LatchkeyPolicy"], swiftSettings: strict),
        // The core as plain functions: no socket, often no store.
        .testTarget(
            name: "LatchkeyCoreTests",
            dependencies: [
                "LatchkeyTestSupport", "LatchkeyCore", "LatchkeyAPI", "LatchkeyAudit", "LatchkeyCrypto", "LatchkeyPolicy", "LatchkeyStore",
                "LatchkeySSH", .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "LatchkeyServerTests",
            dependencies: ["LatchkeyTestSupport",
                "LatchkeyServer", "LatchkeyCore", "LatchkeyAPI", "LatchkeyClient", "LatchkeyStore", "LatchkeyCrypto", "LatchkeyAudit",
                "LatchkeyPolicy", "LatchkeySSH",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
    ]
)
