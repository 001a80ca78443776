// swift-tools-version: 6.1
import PackageDescription

/// Upcoming-feature flags every target shares (as Hummingbird does): explicit `any`
/// and imports that say what a file really uses.
let strictness: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "faultline",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "faultline", targets: ["faultline"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // Profiles, fault decisions, the event schema. No NIO: it must stay testable alone.
        .target(
            name: "FaultlineCore",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strictness
        ),
        // Framers: message boundaries (line, length, HTTP/1.1, RESP) without changing a byte.
        .target(
            name: "FaultlineFraming",
            dependencies: [
                "FaultlineCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictness
        ),
        // The engine: listeners, the bridge between the two sockets, fault stages.
        .target(
            name: "FaultlineProxy",
            dependencies: [
                "FaultlineCore",
                "FaultlineFraming",
                "FaultlineRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        // Debian's libpcap-dev, found through pkg-config.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"]), .brew(["libpcap"])]
        ),
        // Debian's zlib1g-dev: replay decodes gzip and deflate reply bodies before comparing.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // libpcap in Swift: owns the pointers, turns pcap_geterr into thrown errors.
        .target(name: "Pcap", dependencies: ["CPcap"], swiftSettings: strictness),
        // What a run leaves behind: the JSON Lines event log (written off the event
        // loops), its reader and accounting check, and both-leg packet capture.
        .target(
            name: "FaultlineRecords",
            dependencies: [
                "FaultlineCore",
                "Pcap",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        // Starts and stops TCP and UDP proxies with their records from one spec: used by
        // `proxy`, `run` and the control API.
        .target(
            name: "FaultlineHost",
            dependencies: [
                "FaultlineCore",
                "FaultlineFraming",
                "FaultlineProxy",
                "FaultlineRecords",
                "Pcap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        // The checker: events (streamed) -> attempts -> logical requests -> findings ->
        // one report model -> text, JSON, JUnit and HTML. Pure: no sockets.
        .target(
            name: "FaultlineChecker",
            dependencies: [
                "FaultlineCore",
                "FaultlineRecords",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictness
        ),
        // Replay: sends recorded requests to a target (and through a proxy of its own for
        // the lost-reply experiment) and judges the service; findings go to the checker's
        // report model.
        .target(
            name: "FaultlineReplay",
            dependencies: [
                "CZlib",
                "FaultlineChecker",
                "FaultlineCore",
                "FaultlineFraming",
                "FaultlineProxy",
                "FaultlineRecords",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        // The control plane of `faultline serve`: a store of live proxies, the
        // Toxiproxy-compatible model and its toxic -> rule mapping, the native /v1 API,
        // Prometheus metrics, and the Hummingbird routes over all of them.
        .target(
            name: "FaultlineServe",
            dependencies: [
                "FaultlineCore",
                "FaultlineFraming",
                "FaultlineHost",
                "FaultlineProxy",
                "FaultlineRecords",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        // The command line only: parse, wire, print, exit status.
        .executableTarget(
            name: "faultline",
            dependencies: [
                "FaultlineCore",
                "FaultlineChecker",
                "FaultlineFraming",
                "FaultlineHost",
                "FaultlineProxy",
                "FaultlineRecords",
                "FaultlineReplay",
                "FaultlineServe",
                "Pcap",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        // Each parser that reads other people's bytes as one function from a fuzz case to
        // the invariants it broke: driven by the libFuzzer executables (`make fuzz`) and
        // replayed over the committed corpus by FaultlineFuzzingTests.
        .target(
            name: "FaultlineFuzzing",
            dependencies: [
                "FaultlineChecker",
                "FaultlineCore",
                "FaultlineFraming",
                "FaultlineRecords",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        // Servers on port 0, clients, hashing: shared by every test target.
        .target(
            name: "FaultlineTestSupport",
            dependencies: [
                "CZlib",
                "FaultlineCore",
                "FaultlineProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineCoreTests",
            dependencies: ["FaultlineCore"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineCheckerTests",
            dependencies: ["FaultlineChecker", "FaultlineCore", "FaultlineRecords", "FaultlineTestSupport"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineReplayTests",
            dependencies: [
                "FaultlineReplay",
                "FaultlineChecker",
                "FaultlineCore",
                "FaultlineRecords",
                "FaultlineTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineFramingTests",
            dependencies: [
                "FaultlineFraming",
                "FaultlineCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineProxyTests",
            dependencies: [
                "FaultlineProxy",
                "FaultlineFraming",
                "FaultlineRecords",
                "Pcap",
                "FaultlineTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineRecordsTests",
            dependencies: [
                "FaultlineRecords",
                "FaultlineProxy",
                "FaultlineTestSupport",
                "Pcap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineFuzzingTests",
            dependencies: ["FaultlineFuzzing"],
            // The corpus and the crashes found: replayed, not compiled.
            exclude: ["Corpus"],
            swiftSettings: strictness
        ),
        .testTarget(
            name: "FaultlineCLITests",
            dependencies: [
                "faultline",
                "FaultlineTestSupport",
                "FaultlineCore",
                "FaultlineRecords",
                "Pcap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Python clients and services the tests run as real processes.
            exclude: ["Clients"],
            swiftSettings: strictness
        ),
            .testTarget(
            name: "FaultlineServeTests",
            dependencies: [
                "FaultlineServe",
                "FaultlineHost",
                "FaultlineCore",
                "FaultlineTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictness
        ),
    ]
)

/// libFuzzer executables, one per parser (Fuzz/<name>/), declared only when `make fuzz`
/// sets FAULTLINE_FUZZ, so `swift build` and `make test` never build them. Each is built
/// alone with `--sanitize=fuzzer --sanitize=address`; libFuzzer supplies `main`.
if Context.environment["FAULTLINE_FUZZ"] != nil {
    for name in ["http", "resp", "line", "length", "profile", "event-log", "pcap"] {
        package.targets.append(
            .executableTarget(
                name: "fuzz-\(name)",
                dependencies: ["FaultlineFuzzing"],
                path: "Fuzz/\(name)",
                swiftSettings: strictness
            )
        )
    }
}
