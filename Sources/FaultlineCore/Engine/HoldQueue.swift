/// Units held back by `reorder` until so many later units passed, or their time was
/// up: the hold queue of both transports. A TCP message stage counts the requests that
/// went on after a held one, a UDP stage the datagrams that arrived after it; each
/// keeps its own timers and says when a unit passed (`pass`).
///
///     held: 2 (after: 2)     in: 1 2 3 4 5     out: 1 3 4 2 5
///
/// Pure bookkeeping, no clock: entries leave in the order they were held when several
/// are due at once.
package struct HoldQueue<Item> {
    package struct Entry {
        package let id: Int
        package var item: Item
        /// Later units to wait for; nil when only the hold's time limit releases it.
        package let after: Int?
        /// Later units that passed since it was held.
        package fileprivate(set) var passed = 0
    }

    private var entries: [Entry] = []
    private var nextID = 0

    package init() {}

    package var isEmpty: Bool { self.entries.isEmpty }
    package var count: Int { self.entries.count }

    /// Holds the item `make` builds from the entry's id (for its timer to name it) until
    /// `after` later units passed; returns the id.
    @discardableResult
    package mutating func hold(after: Int?, _ make: (_ id: Int) -> Item) -> Int {
        let id = self.nextID
        self.nextID += 1
        self.entries.append(Entry(id: id, item: make(id), after: after))
        return id
    }

    /// One later unit passed: every entry held counts it.
    package mutating func pass() {
        for index in self.entries.indices { self.entries[index].passed += 1 }
    }

    /// Takes out the first entry (in hold order) whose count is up.
    package mutating func takeDue() -> Entry? {
        self.entries.firstIndex { entry in entry.after.map { entry.passed >= $0 } ?? false }.map { self.entries.remove(at: $0) }
    }

    /// Takes out entry `id` (its time is up), if it is still held.
    package mutating func take(id: Int) -> Entry? {
        self.entries.firstIndex { $0.id == id }.map { self.entries.remove(at: $0) }
    }

    /// Takes out the entry held longest.
    package mutating func takeFirst() -> Entry? {
        self.entries.isEmpty ? nil : self.entries.removeFirst()
    }

    /// Changes every item held, in place (a plan change taking away what a rule no
    /// longer in the plan would still do to it).
    package mutating func updateEach(_ body: (inout Item) -> Void) {
        for index in self.entries.indices { body(&self.entries[index].item) }
    }

    /// Takes out every entry, in hold order.
    package mutating func takeAll() -> [Entry] {
        defer { self.entries = [] }
        return self.entries
    }
}

extension HoldQueue: Sendable where Item: Sendable {}
extension HoldQueue.Entry: Sendable where Item: Sendable {}
