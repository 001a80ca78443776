import Foundation

/// The resource a reply names: by its `Location` header, by the `id` in its JSON body,
/// or both.
///
/// A service that deduplicates by key commonly answers the first request with
/// `201 Location: /orders/X` and `{"id":"X"}` and every repeat with the saved status
/// and body, without the header. The two name one resource, so a `Location` is compared
/// with a body id by its last path segment (query and fragment stripped):
///
///     Location: /orders/b765?v=2   {"id":"b765"}   →   the same resource, b765
///
/// Two replies are compared by what both carry: `Location` with `Location` (the whole
/// path), else id with id, else one's `Location` segment with the other's id.
struct ResourceName: Equatable, CustomStringConvertible {
    /// The `Location` path, scheme and authority, query and fragment stripped.
    var location: String?
    /// The JSON body's `id`.
    var id: String?

    /// Nil when the reply names no resource at all.
    init?(location: String?, id: String?) {
        let path = location.flatMap(Self.path(of:))
        guard path != nil || id != nil else { return nil }
        self.location = path
        self.id = id
    }

    /// The last non-empty segment of `location`, the id it most likely carries.
    var locationSegment: String? {
        self.location?.split(separator: "/").last.map(String.init)
    }

    /// `b765`, or `/orders/b765 (id 7)` when the header and the body disagree.
    var description: String {
        switch (self.location, self.id) {
        case (let location?, let id?): self.locationSegment == id ? id : "\(location) (id \(id))"
        case (let location?, nil): location
        case (nil, let id?): id
        case (nil, nil): "-"
        }
    }

    func isSame(as other: ResourceName) -> Bool {
        if let a = self.location, let b = other.location { return a == b }
        if let a = self.id, let b = other.id { return a == b }
        if let segment = self.locationSegment, let id = other.id { return segment == id }
        if let segment = other.locationSegment, let id = self.id { return segment == id }
        return false
    }

    /// One name per distinct resource among `names` (a name joins the first group it
    /// is the same as any member of), in first-seen order.
    static func distinct(_ names: [ResourceName]) -> [ResourceName] {
        var groups: [[ResourceName]] = []
        for name in names {
            if let index = groups.firstIndex(where: { $0.contains { $0.isSame(as: name) } }) {
                groups[index].append(name)
            } else {
                groups.append([name])
            }
        }
        return groups.map { $0[0] }
    }

    /// `https://api.test/orders/7?x=1#f` → `/orders/7`; nil when no path is left.
    private static func path(of location: String) -> String? {
        var text = Substring(location.trimmingSpaces)
        if let end = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<end] }
        if let scheme = text.range(of: "://") {
            let rest = text[scheme.upperBound...]
            text = rest.firstIndex(of: "/").map { rest[$0...] } ?? ""
        }
        while text.count > 1, text.hasSuffix("/") { text = text.dropLast() }
        return text.isEmpty || text == "/" ? nil : String(text)
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: Substring {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return slice
    }
}
