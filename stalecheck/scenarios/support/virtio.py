"""Split virtqueues in guest memory, as generated straight-line programs.

Why generated programs and not a new "agent" step kind: the driver and the device
of a split virtqueue only load, store, order and poll; with a bounded number of
messages and one descriptor chain per message, the slot each message uses is
known in advance (``message % slots``), so both sides unroll into straight-line
code in the ordinary program notation.  Every access then goes through the one
machine engine (buffers, caches, memory types, traps), no memory rule is written
twice, and the witness shows the very instructions Linux and the VMM execute.  The
only addition the engine needed is ``AWAIT X, v``: a polling loop (``while
(READ_ONCE(x) != v) ;``) collapsed into the one step that exits it, sound because a
failed poll is a load with no effect on the state (loads do not allocate: fills
are steps of their own).

The layout (one cache line each, sub-blocks per modelled word; seed 000, Linux
``virtqueue_add_split``/``virtqueue_kick``, virtio 1.2 section 2.7):

- ``VQD``: the descriptor table, one word per descriptor (``d0``, ``d1``, ...): the
  address of the buffer it points at, as a version (which message's skb);
- ``VQA``: the available ring's ``idx`` (``aidx``); the ring entries themselves are
  left out because with one descriptor per message their value (the head index)
  is the same on every lap, so a stale entry reads the same bytes;
- ``VQU``: the used ring's ``idx`` (``uidx``);
- ``SKB<i>``: the linear data of the skb in slot ``i``: CRC header, length and the
  first body word (``c<i>``, ``n<i>``, ``w<i>``); slots are reused on every lap, as
  the slab allocator reuses a freed skb's memory;
- ``FRAG<i>``: with paged skbs (more than a page), the body's second word lives in
  a page fragment (``f<i>``);
- ``QN``: the virtio-mmio ``QueueNotify`` register (an emulated MMIO page);
- ``EFD``: the ioeventfd counters, one word per kick (``k<m>``), in host memory.

Each message ``m`` writes the value ``m + 1`` (its version) into every word it
owns, so a receiver reading ``v`` knows that message ``v - 1`` wrote it (0: the
initial contents).  The receiver's check is ``vsock.check_frame``.
"""

from __future__ import annotations

from dataclasses import dataclass

from stalecheck.errors import ScenarioError
from stalecheck.scenarios.support import nested, vsock

RING_LINES = ("VQD", "VQA", "VQU")


@dataclass(frozen=True)
class Patches:
    """The fixes posted in seed 000, each a switch on the generated code.

    ``flush_linear``/``flush_frags`` are nv2-vsock-dcache-flush (DC CIVAC on the
    skb's linear data, and on its page fragments, with DSB SY + ISB around);
    ``flush_ring`` is the later revision of nv2-virtio-kick-barrier that also cleans
    the vring (desc, avail, used); ``dsb_isb_kick`` is nv2-virtio-kick-barrier (DSB
    SY + ISB in virtqueue_notify); ``dsb_rx`` is nv2-vsock-rx-barrier (DSB SY before
    the driver reads the used ring); ``dsb_nested_exit`` is nv2-vsock-cache-sync
    (DSB SY in kvm_nested_sync_hwstate, on every exit of an NV vCPU);
    ``dsb_ioeventfd`` is nv2-mmio-barrier (DSB SY in io_mem_abort before
    kvm_io_bus_write).
    """

    flush_linear: bool = False
    flush_frags: bool = False
    flush_ring: bool = False
    ring_flush_dsb: bool = False  # DSB SY before and after the vring DC CIVACs
    dsb_isb_kick: bool = False
    dsb_rx: bool = False
    dsb_nested_exit: bool = False
    dsb_ioeventfd: bool = False

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, on in self.__dict__.items() if on)


ALL_PATCHES = Patches(
    flush_linear=True,
    flush_frags=True,
    dsb_isb_kick=True,
    dsb_rx=True,
    dsb_nested_exit=True,
    dsb_ioeventfd=True,
)


@dataclass(frozen=True)
class Virtqueue:
    """One TX virtqueue and the vsock stream through it, at a bounded size.

    ``slots`` is the queue size (descriptors); ``messages`` how many requests the
    driver sends; ``messages > slots`` wraps the ring.  ``paged`` puts the second
    body word in a page fragment (a nonlinear skb, as for requests over a page).
    ``weak_barriers``: VIRTIO_F_ORDER_PLATFORM not negotiated, so ``virtio_wmb`` is
    ``DMB ISHST`` (otherwise ``dma_wmb``: ``DMB OSHST``).  ``writel``: the kick uses
    ``writel`` (``__iowmb`` = ``DMB OSHST`` before the Device store) rather than
    ``writel_relaxed``.
    """

    slots: int = 2
    messages: int = 2
    paged: bool = False
    weak_barriers: bool = True
    writel: bool = True
    patches: Patches = Patches()
    nv2: bool = False  # interleave L1's NV2 activity (VNCR stores, a trapped TLBI) with the ring

    def __post_init__(self) -> None:
        if not 1 <= self.slots <= 8:
            raise ScenarioError(f"slots={self.slots}: the model keeps a virtqueue at 1 to 8 descriptors")
        if not 1 <= self.messages <= 16:
            raise ScenarioError(f"messages={self.messages}: between 1 and 16 messages")

    # ---- layout -------------------------------------------------------------------

    @property
    def body_words(self) -> int:
        return 2 if self.paged else 1

    def pages(self) -> list[tuple[str, str]]:
        """(page, lines) pairs for ``Builder.page``: the ring, the skbs, the doorbell."""
        q = range(self.slots)
        out = [
            ("VRING", f"VQD:{','.join(f'd{i}' for i in q)} VQA:aidx VQU:uidx"),
            ("SKBS", " ".join(f"SKB{i}:c{i},n{i},w{i}" for i in q)),
        ]
        if self.paged:
            out.append(("FRAGS", " ".join(f"FRAG{i}:f{i}" for i in q)))
        if self.nv2:
            out.append((nested.VNCR_PAGE, nested.VNCR_LINE))
        return out

    def data_lines(self, frags: bool) -> tuple[str, ...]:
        q = range(self.slots)
        return tuple(f"FRAG{i}" for i in q) if frags else tuple(f"SKB{i}" for i in q)

    def efd_line(self) -> str:
        return "EFD:" + ",".join(f"k{m}" for m in range(self.messages))

    # ---- the driver (L1 guest kernel: virtio_transport_send_skb, virtqueue_add_split) --

    def driver(self) -> str:
        p = self.patches
        wmb = "DMB ISHST" if self.weak_barriers else "DMB OSHST"
        lines: list[str] = []
        for m in range(self.messages):
            i, v = m % self.slots, m + 1
            if m >= self.slots:  # reclaim: wait for the device to return message m - slots
                done = m - self.slots
                lines.append(f"// message {m} reuses slot {i}: reclaim message {done}")
                lines.append(f"WAIT irq{done}")
                if p.dsb_rx:
                    lines.append("DSB SY  // nv2-vsock-rx-barrier")
                lines.append(f"AWAIT uidx, {done + 1}  // virtqueue_get_buf polls used->idx")
            lines.append(f"// message {m}: fill the skb (copy from user)")
            lines += [f"STR c{i}, {v}", f"STR n{i}, {v}", f"STR w{i}, {v}"]
            if self.paged:
                lines.append(f"STR f{i}, {v}")
            flushes = []
            if p.flush_linear:
                flushes.append(f"DC CIVAC SKB{i}")
            if p.flush_frags and self.paged:
                flushes.append(f"DC CIVAC FRAG{i}")
            if flushes:
                lines += ["DSB SY  // nv2-vsock-dcache-flush", *flushes, "DSB SY", "ISB"]
            if self.nv2:
                lines += nested.vel2_activity(m)
            lines.append(f"STR d{i}, {v}  // virtqueue_add_split: the descriptor")
            lines.append(f"{wmb}  // virtio_wmb before avail->idx")
            lines.append(f"STR aidx, {v}  // avail->idx")
            if self.nv2:
                lines += nested.vel2_activity(m, after_publish=True)
            if p.flush_ring:
                # An NC store and a DC CIVAC of the same line are not ordered without a
                # barrier (D7.5.9): without the DSB the clean may run before the store.
                if p.ring_flush_dsb:
                    lines.append("DSB SY  // the stores complete before the clean")
                lines += ["DC CIVAC VQD  // vring flush", "DC CIVAC VQA", "DC CIVAC VQU"]
                if p.ring_flush_dsb:
                    lines.append("DSB SY")
            lines.append("DMB ISH  // virtio_mb in virtqueue_kick_prepare")
            if p.dsb_isb_kick:
                lines += ["DSB SY  // nv2-virtio-kick-barrier", "ISB"]
            if self.writel:
                lines.append("DMB OSHST  // writel: __iowmb")
            lines.append(f"STR QN, {v}  // QueueNotify: stage-2 abort, exit to L0")
        return "\n".join(lines)

    # ---- the device (L0 VMM thread: Firecracker's vsock TX handler) ----------------

    def device(self) -> str:
        lines: list[str] = []
        for m in range(self.messages):
            i, v = m % self.slots, m + 1
            r = self.registers(m)
            lines.append(f"AWAIT k{m}, 1  // woken by the ioeventfd")
            lines.append(f"AWAIT aidx, {v}  // avail->idx shows the new buffer")
            lines.append(f"LDR {r['desc']}, d{i}")
            lines += [f"LDR {r['crc']}, c{i}", f"LDR {r['len']}, n{i}", f"LDR {r['body'][0]}, w{i}"]
            if self.paged:
                lines.append(f"LDR {r['body'][1]}, f{i}")
            lines.append(f"LDR {r['done']}, k{m}  // (model only: marks message {m} as read)")
            lines.append(f"STR uidx, {v}  // used->idx (release)")
            lines.append(f"SIGNAL irq{m}  // irqfd: interrupt to the guest")
        return "\n".join(lines)

    def registers(self, m: int) -> dict[str, str | tuple[str, ...]]:
        """The device's registers for message ``m`` (names the notation accepts)."""
        base = m * 6
        body = tuple(f"r{base + 3 + j}" for j in range(self.body_words))
        done = f"r{base + 3 + self.body_words}"
        return {"desc": f"r{base}", "crc": f"r{base + 1}", "len": f"r{base + 2}", "body": body, "done": done}

    # ---- the receiver's verdict ---------------------------------------------------------

    def corruption(self, read: dict[str, int]) -> str:
        """The first corrupt message in the stream the device received, as text, or "".

        ``read`` maps register names to the versions the device loaded.  A stale
        descriptor means the device copied from the freed skb of an older message;
        otherwise the frame is checked as the seed's server checks it, and a frame
        that passes the CRC but is not the one sent (every word stale from the same
        older message) is reported too: the seed's check cannot see that one.
        """
        for m in range(self.messages):
            r = self.registers(m)
            if not read[r["done"]]:  # type: ignore[index]
                return ""  # not received yet: the stream so far is intact
            desc = read[r["desc"]]  # type: ignore[index]
            if desc != m + 1:
                return f"message {m}: stale descriptor (addr of message {desc - 1}'s freed skb)"
            data = vsock.received(
                read[r["crc"]],  # type: ignore[index]
                read[r["len"]],  # type: ignore[index]
                tuple(read[b] for b in r["body"]),
            )
            mismatch = vsock.check_frame(m, data)
            if mismatch is not None:
                return str(mismatch)
            if data != vsock.frame(m, self.body_words):
                return f"message {m}: CRC passes but the frame is an older message's (silent replay)"
        return ""

    def all_registers(self) -> list[str]:
        out: list[str] = []
        for m in range(self.messages):
            r = self.registers(m)
            out += [r["desc"], r["crc"], r["len"], *r["body"], r["done"]]  # type: ignore[list-item]
        return out
