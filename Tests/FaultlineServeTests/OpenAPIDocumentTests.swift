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

    @Test func everyNativeRouteIsInTheAPIPage() throws {
        let text = try String(contentsOf: Self.docs.appendingPathComponent("api.md"), encoding: .utf8)
        for route in Self.routes where route.hasPrefix("/v1/") {
            let written = route.replacingOccurrences(of: "{proxy}", with: "{p}").replacingOccurrences(of: "{rule}", with: "{r}")
                .replacingOccurrences(of: "{toxic}", with: "{t}")
            #expect(text.contains(written) || text.contains(written.replacingOccurrences(of: "/v1/proxies/{p}", with: "")), "\(route)")
        }
    }
}
