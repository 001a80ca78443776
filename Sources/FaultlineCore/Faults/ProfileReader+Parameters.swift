import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ProfileReader {
    /// Reads `fields[name]` with `read` when present; nil (and no issue) when absent.
    package func optional<Value>(_ fields: ReaderFields, _ name: String, _ read: (Node) -> Value?) -> Value? {
        guard let node = fields[name] else { return nil }
        return read(node)
    }

    /// A byte count, or a range written `{min: A, max: B}` from which a value is drawn.
    package func byteRange(_ node: Node, what: String) -> ClosedRange<Int>? {
        if case .mapping = node {
            guard let fields = self.mapping(node, what: what, allowed: ["min", "max"]) else { return nil }
            let low = self.required(fields, "min", what: what).flatMap { self.integer($0, what: "\(what).min") }
            let high = self.required(fields, "max", what: what).flatMap { self.integer($0, what: "\(what).max") }
            guard let low, let high else { return nil }
            guard low <= high else {
                self.fail(node, "\(what): min (\(low)) must not be above max (\(high))")
                return nil
            }
            return low...high
        }
        guard let value = self.integer(node, what: what) else { return nil }
        return value...value
    }
}

extension DecisionRandom {
    /// A uniform draw in `range`.
    package mutating func int(in range: ClosedRange<Int>) -> Int {
        if range.lowerBound == range.upperBound { return range.lowerBound }
        return Int.random(in: range, using: &self)
    }

    /// A standard normal draw (Box–Muller), from two uniform draws.
    package mutating func normal() -> Double {
        let u1 = max(self.nextUnit(), .leastNonzeroMagnitude)
        let u2 = self.nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
