"""``stalecheck litmus --engine machine`` prints herd's counts (issue 10, "Done means").

herd7 counts candidate executions (a path per thread, read-from, coherence
order), not final states.  The machine engine records, per thread, the write
each load read and each store's place in coherence order (machine/rfco.py), and
counts the distinct ones among the final states it reaches.  These tests pin the
cases where executions and states differ, and the whole printed output on the
catalogue.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stalecheck import litmus_machine
from stalecheck.axiomatic.check import check_test
from stalecheck.errors import InputError, UnsupportedError
from stalecheck.litmus.parser import parse_file, parse_litmus
from tests.data import HERDTOOLS7
from tests.litmus.test_cli_litmus import _app

CATALOGUE = HERDTOOLS7 / "herd-catalogue" / "aarch64"
INSTRUCTIONS = HERDTOOLS7 / "herd-instructions" / "AArch64"


def _counts(text_or_path: str) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
    """Executions per final state: (machine, axiomatic)."""
    test = parse_file(INSTRUCTIONS / text_or_path) if text_or_path.endswith(".litmus") else (
        parse_litmus(text_or_path, "t.litmus")
    )
    return litmus_machine.check(test).state_counts, check_test(test).state_counts


def test_reading_zero_from_the_initial_write_or_from_a_write_of_zero_are_two_executions() -> None:
    """LB+rel+BEQ2: P1 stores the 0 it read to x, and P0's read of x = 0 may take it from
    the initial write or from that store (B2.3.1: reads-from is a relation on writes, not
    values).  herd counts 3 executions in 2 states."""
    test = parse_file(CATALOGUE / "tests" / "LB+rel+BEQ2.litmus")
    machine = litmus_machine.check(test)
    axiomatic = check_test(test)
    assert machine.state_counts == axiomatic.state_counts
    assert sorted(machine.state_counts.values()) == [1, 2]
    assert (machine.positive, machine.negative) == (axiomatic.positive, axiomatic.negative) == (0, 3)


def test_a_failing_cas_may_write_back_the_value_it_read() -> None:
    """Arm ARM C6.2 CAS: "If the comparison is not equal, the architecture permits
    writing the value read from the location to memory" - a failing CAS with and
    without that write are two executions of one final state."""
    text = """AArch64 cas-fails
{ x=1; 0:X1=x; }
 P0             ;
 MOV W0,#0      ;
 MOV W2,#2      ;
 CAS W0,W2,[X1] ;
exists (x=1 /\\ 0:X0=1)
"""
    machine, axiomatic = _counts(text)
    assert machine == axiomatic == {("0:X0=1", "[x]=1"): 2}


def test_a_successful_cas_is_two_executions() -> None:
    """herd writes the comparison register of a successful CAS in two ways (from the
    register, or from the value read), with different dependencies: both are
    executions (L007: 4 executions of one final state)."""
    machine, axiomatic = _counts("L007.litmus")
    assert machine == axiomatic
    assert list(machine.values()) == [4]


def test_each_failed_store_exclusive_of_a_loop_is_an_execution() -> None:
    """A184: the LDXR/STXR loop succeeds at the first, second or third try (herd
    unrolls twice): three executions, one final state."""
    machine, axiomatic = _counts("A184.litmus")
    assert machine == axiomatic
    assert list(machine.values()) == [3]


def _printed(*args: str) -> list[str]:
    result = CliRunner().invoke(_app(), ["litmus", *args])
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if not line.startswith("Time ")]


@pytest.mark.xdist_group("litmus-machine-catalogue")
def test_catalogue_output_equals_the_axiomatic_engine_line_for_line() -> None:
    """Done means: the same Observation line as the axiomatic engine (which matches
    herd7) on every test the machine accepts; here every line but ``Time``, on all 80
    catalogue tests (the machine accepts them all)."""
    machine = _printed("--engine", "machine", str(CATALOGUE))
    axiomatic = _printed(str(CATALOGUE))
    observations = [line for line in machine if line.startswith("Observation ")]
    assert len(observations) >= 80
    assert machine == axiomatic


def test_array_elements_are_cells_at_their_offsets() -> None:
    """L012 swaps v[0] and v[2] through [X2] and [X2,#8]: each element is its own
    location, 4 bytes apart, and the final array prints as herd prints it."""
    test = parse_file(INSTRUCTIONS / "L012.litmus")
    machine = litmus_machine.check(test)
    assert machine.states == check_test(test).states == [("v={3,2,1}",)]


def test_a_mixed_size_access_is_refused() -> None:
    """A177 reads 4 bytes of an 8-byte pointer: herd rejects mixed-size tests outside
    -variant mixed; the machine holds one value per cell, so it refuses too."""
    with pytest.raises(UnsupportedError, match="mixed-size"):
        litmus_machine.check(parse_file(INSTRUCTIONS / "A177.litmus"))


@pytest.mark.parametrize("name", ["A217", "A262"])
def test_an_access_to_a_number_fails_as_in_herd(name: str) -> None:
    """herd fails a test when an execution the model allows dereferences a number
    (their ``.expected-failure``); the axiomatic engine and the machine say where."""
    test = parse_file(INSTRUCTIONS / f"{name}.litmus")
    with pytest.raises(InputError, match="non symbolic address") as machine:
        litmus_machine.check(test)
    with pytest.raises(InputError, match="non symbolic address") as axiomatic:
        check_test(test)
    assert machine.value.render().splitlines()[0] == axiomatic.value.render().splitlines()[0]


def test_an_access_to_a_number_the_model_never_reaches_is_no_error() -> None:
    """A260: the path that would dereference 16 needs the two reads of x to break
    read-read coherence (B2.3.1), so no execution reaches it."""
    test = parse_file(INSTRUCTIONS / "A260.litmus")
    assert litmus_machine.check(test).state_counts == check_test(test).state_counts


def test_read_read_coherence_holds_for_writes_not_values() -> None:
    """B2.3.1 CoRR: of two program-ordered reads of x, the first may not read a write
    coherence-after the one the second read.  P0 writes 1 to x twice: the first read
    may not take the second write when the second read took the first, although the
    values are equal (3 executions satisfy the condition, not 4)."""
    text = """AArch64 CoRR-equal-values
{ 0:X1=x; 1:X1=x; }
 P0          | P1          ;
 MOV W0,#1   | LDR W2,[X1] ;
 STR W0,[X1] | LDR W3,[X1] ;
 STR W0,[X1] |             ;
exists (1:X2=1 /\\ 1:X3=1)
"""
    machine, axiomatic = _counts(text)
    assert machine == axiomatic
    assert machine[("1:X2=1", "1:X3=1")] == 3


_PAIR_MP = """AArch64 MP+rel+{load}
{{ int x[2]; 0:X2=x; 1:X2=x; }}
 P0             | P1                  ;
 MOV W0,#1      | {load} W4,W5,[X2]   ;
 STR W0,[X2,#4] |                     ;
 STLR W0,[X2]   |                     ;
exists (1:X4=1 /\\ 1:X5=0)
"""


@pytest.mark.parametrize(("load", "relaxed"), [("LDP", True), ("LDIAPP", False)])
def test_ldiapp_orders_its_first_read_before_its_second(load: str, relaxed: bool) -> None:
    """C6.2.208 LDIAPP: "The Memory effects associated with Xt1/Wt1 are Ordered-before the
    Memory effects associated with Xt2/Wt2"; LDP's two reads are unordered (B2.2.1).
    Reading the flag x[0]=1 and then the stale x[1]=0 is reachable with LDP only."""
    test = parse_litmus(_PAIR_MP.format(load=load), "t.litmus")
    machine = litmus_machine.check(test)
    assert (("1:X4=1", "1:X5=0") in machine.state_counts) == relaxed
    assert machine.state_counts == check_test(test).state_counts


def test_an_ldnp_with_an_address_dependency_is_refused() -> None:
    """C3.2.5: "If an address dependency exists between two memory reads, and a Load
    Non-temporal Pair instruction generated the second read, ... the memory accesses can
    be observed in any order".  The window cannot satisfy a read before its address is
    known, so an LDNP whose address depends on a load is refused, never ordered (which
    would be stronger than the architecture); without the dependency it runs as LDP."""
    text = """AArch64 MP+dmb+addr-ldnp
{ int x[2]; 0:X1=x; 0:X3=y; 1:X1=x; 1:X3=y; }
 P0             | P1                ;
 MOV W0,#1      | LDR W2,[X3]       ;
 STR W0,[X1]    | EOR W4,W2,W2      ;
 DMB ST         | ADD X5,X1,W4,SXTW ;
 STR W0,[X3]    | LDNP W6,W7,[X5]   ;
exists (1:X2=1 /\\ 1:X6=0)
"""
    with pytest.raises(UnsupportedError, match="LDNP whose address depends on a load"):
        litmus_machine.check(parse_litmus(text, "t.litmus"))
    plain = text.replace("LDNP W6,W7,[X5]", "LDNP W6,W7,[X1]")
    machine = litmus_machine.check(parse_litmus(plain, "t.litmus"))
    assert ("1:X2=1", "1:X6=0") in machine.state_counts  # no dependency: nothing orders them


@pytest.mark.parametrize(("name", "value"), [("L053", 6), ("L104", 0)])
def test_the_flags_read_and_written_as_nzcv(name: str, value: int) -> None:
    """C5.2 NZCV: N, Z, C and V are bits 31..28.  L053: ``CMP W1,#0`` with W1 = 0 sets Z
    and C, so ``MRS X0,NZCV`` then ``LSR X0,X0,28`` gives 6; L104: ``MSR NZCV,X0`` with
    X0 = 0 clears them all, whatever the ``CMP`` before it set."""
    machine, axiomatic = _counts(f"{name}.litmus")
    assert machine == axiomatic
    assert [k[0].endswith(f"={value}") for k in machine] == [True]


def test_a_branch_on_flags_written_by_msr() -> None:
    """``MSR NZCV`` sets the flags a later ``B.cond`` reads (C1.2.4 Condition code)."""
    text = """AArch64 msr-branch
{ 0:X0=0x40000000; }
 P0            ;
 MSR NZCV,X0   ;
 MOV W1,#1     ;
 B.NE L0       ;
 MOV W1,#2     ;
L0:            ;
exists (0:X1=2)
"""
    machine, axiomatic = _counts(text)
    assert machine == axiomatic == {("0:X1=2",): 1}


def test_a_caspl_does_not_order_its_own_two_writes() -> None:
    """C6.2.54 CASPL "store[s] to memory with release semantics": a release is ordered
    after every program-order-earlier access (B2.3.7), but the two writes of one CASP are
    one instruction's, not in program order (herd builds them so): another PE may see the
    second cell's new value and then the first cell's old one."""
    text = """AArch64 casp-writes
{ int x[2]; 0:X4=x; 1:X4=x; }
 P0                     | P1             ;
 MOV W0,#0              | LDR W5,[X4,#4] ;
 MOV W1,#0              | DMB LD         ;
 MOV W2,#1              | LDR W6,[X4]    ;
 MOV W3,#1              |                ;
 CASPL W0,W1,W2,W3,[X4] |                ;
exists (1:X5=1 /\\ 1:X6=0)
"""
    machine, axiomatic = _counts(text)
    assert machine == axiomatic
    assert ("1:X5=1", "1:X6=0") in [k[-2:] for k in machine]


def test_a_symbolic_register_is_one_register_in_every_thread() -> None:
    """herd binds a symbolic register (``%p``, written ``X%p`` in code) to one register
    of its choice with the same initial value in every thread (A127)."""
    text = """AArch64 sym-regs
{ uint64_t %p = x; int x; }
 P0            | P1            ;
 MOV W0,#1     | LDR W1,[X%p]  ;
 STR W0,[X%p]  | ADD X2,X%p,#0 ;
exists (1:X1=1 /\\ 1:X2=x)
"""
    machine, axiomatic = _counts(text)
    assert machine == axiomatic
    assert sorted(k[0] for k in machine) == ["1:X1=0", "1:X1=1"]


def test_a_loop_on_concrete_values_runs_to_its_end() -> None:
    """herd follows a backward branch whose condition reads no memory to the loop's end
    (L028: ten iterations), and bounds by its unrolling limit only a branch on a read or
    a store-exclusive's status (A184: an LDXR/STXR loop, three executions)."""
    machine, axiomatic = _counts("L028.litmus")
    assert machine == axiomatic == {("0:X1=10",): 1}
    machine, axiomatic = _counts("A184.litmus")
    assert machine == axiomatic and list(machine.values()) == [3]


def test_a_thread_whose_every_path_is_cut_has_no_execution() -> None:
    """L029: the loop's backward branch is unconditional, so every path takes it more
    than twice; herd keeps no execution and prints ``Loop``, and so does the machine."""
    test = parse_file(INSTRUCTIONS / "L029.litmus")
    machine, axiomatic = litmus_machine.check(test), check_test(test)
    assert machine.states == axiomatic.states == []
    assert machine.loop and axiomatic.loop
