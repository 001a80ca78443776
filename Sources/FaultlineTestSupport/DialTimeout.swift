import NIOCore

/// How long a test's in-process proxy may take to dial its upstream: a minute, not
/// the command's 5 s. Every test's proxy, server and client share two event loops,
/// and at the start of a loaded run, with dozens of runnable threads on two cores,
/// those loops fell seconds behind; dials then timed out and a dozen unrelated tests
/// saw their clients reset in the same few seconds. No test is about the dial
/// timeout; one that is sets its own.
package let testDialTimeout: TimeAmount = .seconds(60)
