"""The most common stale read in drivers: a ring index, then the entry, without a read barrier.

A producer (a virtio driver adding a buffer, or a VMM returning one) writes a ring
entry, then ``virtio_wmb`` (``DMB ISHST``, Linux ``virtqueue_add_split``), then the
index.  The consumer polls the index until it moves (``AWAIT idx, >=1``: Linux
``more_used_split`` reading ``used->idx``, Firecracker's ``Queue::pop`` reading
``avail->idx``), then reads the entry.  The index tells the consumer the entry is
there, but nothing makes the entry load wait for the index load: a polling loop's
exit branch orders later *stores* (B2.3.6 control dependency) but not later loads,
which may be satisfied before the loop exits (B2.3.7; herd's ``MP+dmb.st+ctrl`` is
allowed).  So the entry may be read stale.  Linux puts ``virtio_rmb`` between the two
(``virtqueue_get_buf_ctx_split``: "Only get used array entries after they have been
exposed by host"): ``DMB ISHLD`` (``virt_rmb``) with ``weak_barriers``, ``DMB OSHLD``
(``dma_rmb``) once VIRTIO_F_ORDER_PLATFORM is negotiated.  Firecracker issues
``fence(Ordering::Acquire)`` (``DMB ISHLD``) after reading ``avail->idx``; a
load-acquire of the index (``smp_load_acquire``: ``LDAR``) orders it too.

The verdicts rest on out-of-order execution inside each PE (``Options.weak_ordering``,
docs/ordering.md): with loads performed in order, every variant here would be
unreachable, which is why the model needed it.  Each "fixed" variant is shown
unreachable by exploring every interleaving of the out-of-order window, the store
buffer and the caches.

Scaling: one producer, one consumer on another PE, one ring entry and the index, each
its own Normal write-back line (coherent).  Nothing else touches them: the bug needs
no cache effect, only the reordering of two loads (or of two stores, ``no-wmb``).
"""

from __future__ import annotations

from stalecheck.scenarios.builder import Builder, Scenario

SCENARIO = Scenario(
    "virtio-ring-rmb",
    "A consumer reads a ring index, then the entry, without a read barrier (virtio_rmb): a stale entry",
)

WMB = "DMB ISHST  // virtio_wmb: the entry before the index"
RMB = "DMB ISHLD  // virtio_rmb: the index before the entry"


def _ring(b: Builder, producer_wmb: bool = True, poll: str = "AWAIT idx, >=1", rmb: str = "") -> None:
    """The producer on PE0 publishes entry 1 and index 1; the consumer on PE1 polls the
    index, then (after ``rmb``, if any) reads the entry into ``r1``."""
    b.system(pes=2)
    b.options(weak_ordering=True)
    b.page("RING", "ENTRY:entry IDX:idx")  # the entry and the index in different cache lines
    produce = ["STR entry, 1  // the ring entry (descriptor head)"]
    if producer_wmb:
        produce.append(WMB)
    produce.append("STR idx, 1  // the index moves")
    b.host("producer", "\n".join(produce), pe=0)
    consume = [f"{poll}  // poll the index until it shows the new entry"]
    if rmb:
        consume.append(rmb)
    consume.append("LDR r1, entry  // read the entry the index announced")
    b.host("consumer", "\n".join(consume), pe=1)
    b.bad_when(
        lambda v: v.done("consumer") and v.reg("consumer", "r1") != 1,
        "the consumer saw the new index but read the entry from before it was written (a stale entry)",
    )


@SCENARIO.variant("no-rmb", expect="reachable")
def _no_rmb(b: Builder) -> None:
    """The consumer reads the entry right after the index moves, with no read barrier."""
    _ring(b)


@SCENARIO.variant("virtio-rmb", expect="unreachable")
def _virtio_rmb(b: Builder) -> None:
    """virtio_rmb (DMB ISHLD) between the index and the entry, as Linux virtqueue_get_buf does."""
    _ring(b, rmb=RMB)


@SCENARIO.variant("dma-rmb", expect="unreachable")
def _dma_rmb(b: Builder) -> None:
    """dma_rmb (DMB OSHLD), the barrier without weak_barriers (VIRTIO_F_ORDER_PLATFORM)."""
    _ring(b, rmb="DMB OSHLD  // dma_rmb")


@SCENARIO.variant("load-acquire", expect="unreachable")
def _load_acquire(b: Builder) -> None:
    """The index polled with a load-acquire (smp_load_acquire: LDAR) and no separate barrier."""
    _ring(b, poll="AWAITA idx, >=1")


@SCENARIO.variant("no-wmb", expect="reachable")
def _no_wmb(b: Builder) -> None:
    """The reader has virtio_rmb but the producer publishes without virtio_wmb: its two
    stores may propagate in either order (B2.3.7 orders them only by a barrier)."""
    _ring(b, producer_wmb=False, rmb=RMB)
