import FaultlineServe
import Foundation
import Testing

/// docs/openapi.yaml and docs/api.md name every route the server answers.
struct OpenAPIDocumentTests {
    static let docs = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs")

    static let routes = [
        "/v1/version", "/v1/proxies", "/v1/proxies/{proxy}", "/v1/proxies/{proxy}/profile", "/v1/proxies/{proxy}/rules",
        "/v1/proxies/{proxy}/rules/{rule}", "/v1/proxies/{proxy}/toxics", "/v1/proxies/{proxy}/toxics/{toxic}",
        "/v1/proxies/{proxy}/events", "/v1/proxies/{proxy}/pcap", "/v1/profiles", "/v1/profiles/{name}", "/v1/reset", "/metrics", "/version", "/proxies",
        "/populate", "/reset", "/proxies/{proxy}", "/proxies/{proxy}/toxics", "/proxies/{proxy}/toxics/{toxic}",
    ]

    @Test func everyRouteIsInTheOpenAPIFile() throws {
        let text = try String(contentsOf: Self.docs.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let listed = Set(text.split(separator: "\n").filter { $0.hasPrefix("  /") }.map { String($0.dropFirst(2).dropLast()) })
        #expect(listed == Set(Self.routes))
    }

    /// Every operation on a proxy's routes answers 404 for a proxy that is not there,
    /// and the file lists that 404 (it once left it out of `GET …/toxics`).
    @Test(.timeLimit(.minutes(1))) func everyOperationOnAMissingProxyAnswers404AsTheFileSays() async throws {
        let text = try String(contentsOf: Self.docs.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let operations = Self.operations(in: text).filter { $0.path.contains("{proxy}") }
        #expect(operations.count > 20, "\(operations.map(\.path))")
        let serve = try await ServeHarness.start()
        for operation in operations {
            let path = operation.path.replacingOccurrences(of: "{proxy}", with: "missing").replacingOccurrences(of: "{rule}", with: "r")
                .replacingOccurrences(of: "{toxic}", with: "t")
            let body = ["GET", "DELETE"].contains(operation.method) ? nil : "{}"
            let reply = try await serve.call(operation.method, path, body: body)
            #expect(reply.status == 404, "\(operation.method) \(path): \(reply)")
            #expect(operation.statuses.contains("404"), "docs/openapi.yaml lists no 404 for \(operation.method) \(operation.path)")
        }
        await serve.stop()
    }

    /// The file's operations: path, method (upper case) and the statuses it lists, read
    /// by indentation (paths at 2 spaces, methods at 4, statuses at 8).
    static func operations(in text: String) -> [(path: String, method: String, statuses: Set<String>)] {
        var operations: [(path: String, method: String, statuses: Set<String>)] = []
        var path: String?
        for line in text.split(separator: "\n") {
            if line.prefix(while: { $0 == " " }).count <= 2 {
                path = line.hasPrefix("  /") ? String(line.dropFirst(2).dropLast()) : nil
                continue
            }
            guard let path else { continue }
            let method = line.trimmingCharacters(in: .whitespaces).dropLast()
            if line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"), ["get", "put", "post", "patch", "delete"].contains(method) {
                operations.append((path, method.uppercased(), []))
            } else if line.hasPrefix("        \""), !operations.isEmpty, let end = line.dropFirst(9).firstIndex(of: "\"") {
                operations[operations.count - 1].statuses.insert(String(line.dropFirst(9)[..<end]))
            }
        }
        return operations
    }

    @Test func everyNativeRouteIsInTheAPIPage() throws {
        let text = try String(contentsOf: Self.docs.appendingPathComponent("api.md"), encoding: .utf8)
        for route in Self.routes where route.hasPrefix("/v1/") {
            let written = route.replacingOccurrences(of: "{proxy}", with: "{p}").replacingOccurrences(of: "{rule}", with: "{r}")
                .replacingOccurrences(of: "{toxic}", with: "{t}")
            #expect(text.contains(written) || text.contains(written.replacingOccurrences(of: "/v1/proxies/{p}", with: "")), "\(route)")
        }
    }
}
