extension Result where Failure == any Error {
    /// Runs `body`, keeping its error instead of throwing it: a test can check that a
    /// call timed out and still go on to the next step.
    package init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
