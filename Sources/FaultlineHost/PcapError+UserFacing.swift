import FaultlineCore
import Pcap

extension PcapError {
    /// The same message with the exit status the README's "Exit status" table gives it: a refused capture is a
    /// runtime failure (3); a bad filter, interface or file name is bad input (2).
    public var userFacing: any UserFacingError {
        switch self.kind {
        case .permissionDenied, .other: RuntimeFailure(self.message)
        case .badFilter, .noSuchDevice, .file: InvalidInputError(self.message)
        }
    }
}
