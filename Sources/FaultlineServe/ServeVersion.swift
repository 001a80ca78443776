/// The version the Toxiproxy-compatible `GET /version` reports: the Toxiproxy release
/// whose API this server copies, so clients that check it accept the server.
package enum ServeVersion {
    package static let toxiproxy = "2.12.0"
}
