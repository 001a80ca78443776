extension Event {
    /// A client a `refuse` rule turned away: its `fault` event, the only one it has (it
    /// never had a `conn_open`). Summaries count these apart from connections.
    package var isRefusal: Bool {
        self.type == .fault && self.kind == RefuseFault.kind
    }
}
