/// What happens to one framed message, from the decisions that fired for it.
///
/// Several rules may fire for one message; they combine the way a demanding user
/// expects, in rule order:
/// - the first rule that ends the message's way decides its fate (`respond`, `drop`,
///   `sever` before or mid-message, `blackhole`, `hang`); rules that would have changed
///   how it travels are then not taken and not logged;
/// - otherwise the message goes on, and every modifier applies: delays add up,
///   bandwidth takes the lowest rate, the first `slice`, `reorder`, `duplicate`, and
///   sever after the message (or at the first byte of its reply) take effect.
///
/// `taken` lists exactly the decisions carried out: the engine logs each as a `fault`
/// event (a sever at the reply's first byte when the reply starts to arrive).
package struct MessageDisposition: Sendable, Equatable {
    package enum Fate: Sendable, Equatable {
        case forward
        case drop
        case respond(InjectedReply)
        /// Cut before the message (`before`) or after its first half (`midMessage`).
        case sever(SeverMode, SeverPoint)
        /// Pass this many bytes of the message (all of it if shorter), then cut: a
        /// `sever` with `after_bytes` on a message rule counts into the message.
        case severAtByte(SeverMode, Int)
        /// Discard this message and everything after it in its direction; for a hang,
        /// close the connection after the given time.
        case discardFromNow(hang: (close: SeverMode, after: Duration?)?)

        package static func == (lhs: Fate, rhs: Fate) -> Bool {
            switch (lhs, rhs) {
            case (.forward, .forward), (.drop, .drop): true
            case (.respond(let a), .respond(let b)): a == b
            case (.sever(let a, let p), .sever(let b, let q)): a == b && p == q
            case (.severAtByte(let a, let m), .severAtByte(let b, let n)): a == b && m == n
            case (.discardFromNow(let a), .discardFromNow(let b)): a?.close == b?.close && a?.after == b?.after
            default: false
            }
        }
    }

    package var fate: Fate = .forward
    package var delay: Duration = .zero
    package var bytesPerSecond: Int?
    package var slice: ChunkDecision.Slice?
    package var reorder: (after: Int, maxHold: Duration)?
    package var duplicate: (copies: Int, gap: Duration)?
    /// The rule that asked for the copies, for their `duplicate_reply` events.
    package var duplicateRule: String?
    /// Cut once the whole message went on.
    package var severAfter: SeverMode?
    /// The decision to carry out when the first byte of this request's reply arrives.
    package var severOnReply: FaultDecision?
    /// The decisions carried out now, to log.
    package var taken: [FaultDecision] = []

    package init(_ decisions: [FaultDecision]) {
        if let terminal = decisions.first(where: { Self.fate(of: $0.effect) != nil }), let fate = Self.fate(of: terminal.effect) {
            self.fate = fate
            self.taken = [terminal]
            return
        }
        for decision in decisions {
            switch decision.effect {
            case .delay(let amount):
                self.delay += amount
            case .throttle(let rate):
                self.bytesPerSecond = min(self.bytesPerSecond ?? rate, rate)
            case .slice(let bytes, let gap, let variation, let sizes):
                guard self.slice == nil else { continue }
                self.slice = ChunkDecision.Slice(bytes: bytes, gap: gap, variation: variation, sizes: sizes)
            case .message(.reorder(let after, let maxHold)):
                guard self.reorder == nil else { continue }
                self.reorder = (after, maxHold)
            case .message(.duplicate(let copies, let gap)):
                guard self.duplicate == nil else { continue }
                self.duplicate = (copies, gap)
                self.duplicateRule = decision.rule
            case .message(.sever(let mode, .after)):
                guard self.severAfter == nil, self.severOnReply == nil else { continue }
                self.severAfter = mode
            case .message(.sever(_, .firstReplyByte)):
                guard self.severAfter == nil, self.severOnReply == nil else { continue }
                self.severOnReply = decision
                continue  // logged when it is carried out
            default:
                continue
            }
            self.taken.append(decision)
        }
    }

    /// The fate an effect imposes, or nil when it only changes how the message travels.
    static func fate(of effect: FaultEffect) -> Fate? {
        switch effect {
        case .message(.drop): .drop
        case .message(.respond(let reply)): .respond(reply)
        case .message(.sever(let mode, .before)), .sever(let mode, .now): .sever(mode, .before)
        case .message(.sever(let mode, .midMessage)): .sever(mode, .midMessage)
        case .sever(let mode, .afterBytes(let offset)): .severAtByte(mode, offset)
        case .blackhole: .discardFromNow(hang: nil)
        case .hang(let close, let after): .discardFromNow(hang: (close, after))
        default: nil
        }
    }

    package static func == (lhs: MessageDisposition, rhs: MessageDisposition) -> Bool {
        lhs.fate == rhs.fate && lhs.delay == rhs.delay && lhs.bytesPerSecond == rhs.bytesPerSecond
            && lhs.slice == rhs.slice
            && lhs.reorder?.after == rhs.reorder?.after && lhs.reorder?.maxHold == rhs.reorder?.maxHold
            && lhs.duplicate?.copies == rhs.duplicate?.copies && lhs.duplicate?.gap == rhs.duplicate?.gap
            && lhs.severAfter == rhs.severAfter && lhs.severOnReply == rhs.severOnReply && lhs.taken == rhs.taken
    }
}
