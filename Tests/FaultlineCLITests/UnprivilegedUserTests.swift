import FaultlineTestSupport
import Foundation
import Testing

/// faultline as most people run it: not as root. The suite runs as root on the CI
/// machines, where a socket option only root may set succeeds; faultline once asked for
/// TCP_NODELAY at the socket level, which is SO_DEBUG there (CAP_NET_ADMIN only), and
/// so failed every proxied connection and every replayed request as any other user.
/// These run the binary as `nobody` through setpriv.
@Suite(
    .timeLimit(.minutes(2)),
    .enabled(if: geteuid() == 0, "switching to an unprivileged user needs root; run as any other user, the whole suite is unprivileged already")
)
struct UnprivilegedUserTests {
    /// util-linux's `setpriv`, which runs a command with fewer privileges.
    static func setpriv() throws -> URL {
        let path = try #require(
            ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "setpriv (util-linux) is needed to run with fewer privileges"
        )
        return URL(fileURLWithPath: path)
    }

    /// `faultline ARGS...` as uid and gid 65534 (`nobody`), with no supplementary groups.
    static func asNobody(_ arguments: [String]) throws -> (URL, [String]) {
        (try Self.setpriv(), ["--reuid=65534", "--regid=65534", "--clear-groups", "--", FaultlineBinary.url.path] + arguments)
    }

    @Test func theProxyCarriesConnectionsAsAnUnprivilegedUser() async throws {
        let echo = try await TestServer.echo()
        let (setpriv, arguments) = try Self.asNobody(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)"])
        let proxy = try ChildProcess(setpriv, arguments)
        defer { proxy.signal(SIGKILL) }
        let port = try #require(await proxy.listeningPort())
        for index in 0..<3 {
            let request = "hello \(index)\n"
            let ending = try await SocketClient.exchange(port: port, request: request, finish: true, limit: .seconds(30))
            #expect(ending == .eof(request), "connection \(index) ended \(ending)")
        }
        proxy.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(30)) { await proxy.exitStatus() } == 0)
        await echo.stop()
    }

    /// The replay's own client connects as an unprivileged user too.
    @Test func theIdempotencyCheckReplaysAsAnUnprivilegedUser() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let (directory, log) = try await CheckIdempotencyCommandTests.record(upstream: service.port)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (setpriv, arguments) = try Self.asNobody([
            "check", "idempotency", log, "--target", "127.0.0.1:\(service.port)", "--probe", "GET /accounts/1", "--timeout", "60s",
        ])
        let result = try await ChildProcess.run(setpriv, arguments)
        #expect(result.status == 1, "\(result.stderr)\n\(result.stdout)")
        #expect(result.stdout.contains("SR-01 DUP_CHANGES_STATE"), "\(result.stdout)")
    }
}
