/// One value for each direction, stored inline: what a per-chunk path reads instead of
/// a dictionary keyed by direction (no hashing, no allocation). Another module reads
/// it through a subscript of its own (`FaultConnection`'s `local:`): Swift neither
/// inlines nor specialises a `package` declaration across modules, so this generic
/// subscript, called from there, copies each value through its type's witnesses.
package struct PerDirection<Value> {
    package var upstream: Value
    package var downstream: Value

    package init(upstream: Value, downstream: Value) {
        self.upstream = upstream
        self.downstream = downstream
    }

    package init(_ both: Value) {
        self.init(upstream: both, downstream: both)
    }

    package subscript(direction: Event.Direction) -> Value {
        get { direction == .upstream ? self.upstream : self.downstream }
        set {
            if direction == .upstream { self.upstream = newValue } else { self.downstream = newValue }
        }
    }
}

extension PerDirection: Sendable where Value: Sendable {}
extension PerDirection: Equatable where Value: Equatable {}
