"""Traps of guest instructions to EL2, and the hypervisor policy that handles them.

Which guest instruction traps (D24.2.62 HCR_EL2.TSW/TVM/TPCP/TPU; a stage 2
Translation fault on an unmapped page, D8.15.1.1; a stage-2 Permission fault
on an execute-never page, D8.4) is decided here; what the hypervisor then runs
is the VM's policy, code in the machine's own vocabulary (``spec.Policy``),
interned so that it sits in the state as ints.
"""

from __future__ import annotations

from stalecheck.errors import ScenarioError
from stalecheck.machine.access import Access
from stalecheck.machine.isa import Instr, Op
from stalecheck.machine.layout import Layout
from stalecheck.machine.maintenance import to_poc
from stalecheck.machine.regimes import Regimes
from stalecheck.machine.spec import Context, TrapContext, TrapKind, hcr_bit
from stalecheck.machine.state import State, sctlr_tuple

# Opcodes bound to module globals once: in Python 3.11 reading a member off its enum
# class costs about ten global reads, and ``trap`` runs for every enabled guest instruction.
_AWAIT, _DC, _DCSW, _EXEC, _LDR, _MSR, _STR = Op.AWAIT, Op.DC, Op.DCSW, Op.EXEC, Op.LDR, Op.MSR, Op.STR

ACCESS_KIND = {_LDR: "read", _STR: "write", _EXEC: "exec"}  # what a stage-2 fault tells the policy


class Traps:
    """The traps of one variant's guests."""

    def __init__(self, layout: Layout, access: Access, regimes: Regimes | None) -> None:
        self.layout = layout
        self.access = access
        self.regimes = regimes
        self._policy_memo: dict[TrapContext, tuple[int, ...]] = {}

    def context(self, kind: TrapKind, state: State, t: int, instr: Instr, **extra: object) -> TrapContext:
        """What the hypervisor policy sees when guest thread ``t`` traps on ``instr``.

        Built only when a trap is taken: ``trap`` runs for every enabled guest
        instruction, and the context costs more than the check."""
        lay = self.layout
        spec = lay.threads[t]
        vi = lay.vm_index[spec.vm]
        base: dict[str, object] = {
            "thread": spec.name,
            "vm": lay.vms[vi],
            "instr": instr,
            "sctlr": sctlr_tuple(state.threads[t].sctlr),
            "mapped": tuple(p for p in lay.pages if state.mapped[vi] & lay.page_bit[p]),
            "pages": lay.vm_pages[vi],
        }
        if self.regimes is not None:
            base.update(icache=self.regimes.icache, idc=self.regimes.spec.idc, dic=self.regimes.spec.dic)
        return TrapContext(kind, **extra, **base)  # type: ignore[arg-type]

    def trap(self, state: State, t: int, instr: Instr) -> TrapContext | None:
        """The trap a guest instruction takes, if any (D24.2.62 HCR_EL2.TSW/TVM/TPC/TPU;
        a stage 2 Translation fault on an unmapped page, D8.15.1.1 Translation fault)."""
        lay = self.layout
        spec = lay.threads[t]
        th = state.threads[t]
        if spec.context != Context.GUEST or th.hyp:
            return None
        vi = lay.vm_index[spec.vm]
        hcr = state.hcr[vi]
        op = instr.op
        if op == _DCSW and hcr & hcr_bit("TSW"):
            return self.context(TrapKind.SETWAY, state, t, instr)
        if op == _MSR and hcr & hcr_bit("TVM"):
            return self.context(TrapKind.SCTLR, state, t, instr, field=instr.kind, value=instr.value)
        if op == _DC:
            poc = to_poc(instr.kind)
            if (poc and hcr & hcr_bit("TPC")) or (not poc and hcr & hcr_bit("TPU")):
                return self.context(TrapKind.CMO, state, t, instr)
        if op in (_LDR, _STR, _AWAIT, _DC, _EXEC):
            if self.regimes is not None and self.regimes.is_va(t, instr.loc):
                return None
            line = lay.line_of(instr.loc)
            page = lay.lines[line].page
            mmio = lay.vms[vi].mmio
            if mmio and page in mmio:
                # An access to an emulated device page takes a stage-2 abort to the
                # hypervisor, which emulates it and returns past it (a stage 2 Translation
                # fault, D8.15.1.1; seed 000's doorbell).
                return self.context(TrapKind.MMIO, state, t, instr, page=page, value=instr.value)
            access = ACCESS_KIND.get(op, "read")
            # Stage 2 Permission fault (D8.4 Memory access control; D8.15.1 MMU fault
            # types): a fetch from a page mapped execute-never.
            xn = op == _EXEC and state.mapped[vi] & (lay.line_page_bit[line] << len(lay.pages))
            if self.access.guest_unmapped(state, t, line) or xn:
                return self.context(TrapKind.STAGE2_FAULT, state, t, instr, page=page, access=access)
        return None

    def may_trap(self, t: int, instr: Instr) -> bool:
        """Whether ``instr`` of program thread ``t`` can ever trap, whatever the state:
        stage 2 only ever maps more pages (``MAP``), so an access to a page mapped at start
        never faults; a trap by HCR_EL2 bits needs the VM's policy for it (a policy may
        turn the bits on later).  Out-of-order execution keeps such instructions precise
        (``ordering.Window``)."""
        lay = self.layout
        spec = lay.threads[t]
        if spec.context != Context.GUEST:
            return False
        vm = lay.vms[lay.vm_index[spec.vm]]
        op = instr.op
        if op == "DCSW":
            return vm.on_setway is not None
        if op == "MSR":
            return vm.on_sctlr is not None
        if op == "DC" and vm.on_cmo is not None:
            return True
        if op in ("LDR", "STR", "AWAIT", "DC", "EXEC") and instr.loc:
            if self.regimes is not None and self.regimes.is_va(t, instr.loc):
                return False
            page = lay.lines[lay.line_of(instr.loc)].page
            return page in vm.mmio or page not in vm.mapped or op == "EXEC"
        return False

    def trap_for(self, state: State, t: int) -> TrapContext | None:
        """The trap thread ``t``'s next instruction would take, if any."""
        instr = self.layout.current(state, t)
        if instr is None or state.threads[t].pe < 0:
            return None
        return self.trap(state, t, instr)

    def vcpu_load(self, state: State, t: int, pe: int) -> tuple[int, ...]:
        """The code the VM's ``on_vcpu_load`` hook runs at EL2 on ``pe`` before guest
        thread ``t`` resumes there after a migration (KVM's kvm_arch_vcpu_load, Xen's
        context switch: the local TLB and I-cache maintenance a hypervisor does when it
        loads a vCPU); its ERET is a context synchronisation event (sysregs.py).  Empty
        without a hook, and for host threads."""
        spec = self.layout.threads[t]
        if spec.context != Context.GUEST:
            return ()
        vm = self.layout.vms[self.layout.vm_index[spec.vm]]
        if vm.on_vcpu_load is None:
            return ()
        return self.policy_code(self.context(TrapKind.VCPU_LOAD, state, t, Instr(Op.NOP), pe=pe))

    def policy_code(self, trap: TrapContext) -> tuple[int, ...]:
        """The code the VM's policy for this trap runs at EL2, interned.  Memoized by the
        context (speed only: a policy is a function of what it is told, and the same
        trap recurs in many states; parsing its code each time was ~5% of a search)."""
        try:
            code = self._policy_memo.get(trap)
        except TypeError:  # a user's policy object that is not hashable: no memo
            return self._policy_code(trap)
        if code is None:
            code = self._policy_memo[trap] = self._policy_code(trap)
        return code

    def _policy_code(self, trap: TrapContext) -> tuple[int, ...]:
        vm = trap.vm
        policy = {
            TrapKind.SETWAY: vm.on_setway,
            TrapKind.SCTLR: vm.on_sctlr,
            TrapKind.CMO: vm.on_cmo,
            TrapKind.STAGE2_FAULT: vm.on_stage2_fault,
            TrapKind.MMIO: vm.on_mmio,
            TrapKind.VCPU_LOAD: vm.on_vcpu_load,
        }[trap.kind]
        if policy is None:
            raise ScenarioError(
                f"VM {vm.name!r} traps ({trap.kind}) on {str(trap.instr)!r} but has no policy for it"
            )
        return tuple(self.layout.intern(i) for i in policy(trap))
