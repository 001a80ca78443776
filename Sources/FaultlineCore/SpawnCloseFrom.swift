#if canImport(Glibc)
import Glibc

/// `posix_spawn_file_actions_addclosefrom_np`: the child closes every descriptor from
/// `lowest` up as it starts. A child of faultline must not hold the proxy's sockets,
/// capture files or epoll descriptors (NIO opens them without close-on-exec): a child
/// that keeps a listening socket can connect into it after the proxy stopped and wait
/// for ever.
///
/// glibc has it since 2.34 but declares it only for `_GNU_SOURCE`, which Swift's Glibc
/// module does not define, so it is looked up by name, once.
package func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) -> Int32 {
    SpawnCloseFrom.function(&actions, lowest)
}

private enum SpawnCloseFrom {
    typealias Function = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let function: Function = glibcFunction("posix_spawn_file_actions_addclosefrom_np")
}

/// A glibc function Swift's Glibc module does not declare (it is behind `_GNU_SOURCE`),
/// looked up by name; a glibc without it is too old to run faultline.
package func glibcFunction<Function>(_ name: String) -> Function {
    guard let address = dlsym(dlopen(nil, RTLD_NOW), name) else {
        fatalError("\(name) not found: faultline needs glibc 2.34 or later")
    }
    return unsafeBitCast(address, to: Function.self)
}
#endif
