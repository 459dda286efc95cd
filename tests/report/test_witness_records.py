"""The witness as records: what each rendering (text, JSON, DOT, HTML) is built from.

The records must be complete enough that no renderer needs prose: replaying each
step's ``after`` copies over the initial copies gives exactly the machine's copies
of every line after every step, and each field says what the text line says.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from stalecheck.explore.search import replay
from stalecheck.machine.describe import every_line
from stalecheck.machine.step_record import ActorKind, StepRecord
from stalecheck.machine.system import Machine
from stalecheck.report.verdicts import html_section, result_json
from stalecheck.report.witness_dot import witness_dot
from stalecheck.report.witness_html import copy_rows, page
from stalecheck.report.witness_text import step_text
from stalecheck.runner import load_scenario
from stalecheck.scenarios.builder import Builder
from tests.conftest import Explored

# Small, fast variants covering every kind of actor: PE, EL2 policy, buffer, data
# caches, TLB and walker, I-cache, hypervisor migration, DMA.
VARIANTS = [
    ("kvm-external-l3", "clean-to-pou"),
    ("kvm-external-l3", "flush-all-set-way-at-first-run"),
    ("kvm-external-l3", "hcr-dc-dma"),
    ("kvm-external-l3", "guest-writes-caches-off"),
    ("osv-pte-barriers", "dsb-only"),
    ("osv-pte-barriers", "make-before-break"),
    ("kvm-guest-faults-icache", "vipt-inval-page"),
    ("kvm-guest-faults-icache", "swap-in-no-clean"),
]


def _states(explored: Explored, scenario: str, variant: str) -> list[object]:
    """The machine's states along the witness (initial state first)."""
    machine = Machine(load_scenario(scenario).variants[variant].build())
    state = machine.initial_state()
    states = [state]
    for index in explored(scenario, variant).verdict.witness:
        state = machine.next_state(state, machine.actions(state)[index])
        states.append(state)
    return [every_line(machine, s) for s in states]


@pytest.mark.parametrize(("scenario", "variant"), VARIANTS)
def test_records_rebuild_every_copy_of_every_line_after_every_step(
    scenario: str, variant: str, explored: Explored
) -> None:
    result = explored(scenario, variant)
    assert result.steps, "a reachable variant"
    rows = copy_rows(result.steps, result.initial_copies)
    truth = _states(explored, scenario, variant)
    assert len(rows) == len(truth)
    for n, (row, lines) in enumerate(zip(rows, truth, strict=True)):
        assert row == {x.line: x for x in lines}, f"after step {n}"


@pytest.mark.parametrize(("scenario", "variant"), VARIANTS)
def test_before_and_after_are_the_lines_copies_around_the_step(
    scenario: str, variant: str, explored: Explored
) -> None:
    result = explored(scenario, variant)
    truth = _states(explored, scenario, variant)
    for n, rec in enumerate(result.steps):
        before = {x.line: x for x in truth[n]}
        after = {x.line: x for x in truth[n + 1]}
        assert [before[x.line] for x in rec.after] == list(rec.before)
        assert [after[x.line] for x in rec.after] == list(rec.after)
        changed = {name for name in after if after[name] != before[name]}
        assert changed <= {x.line for x in rec.after}, f"step {n + 1} changed lines it does not list"


def test_the_stale_read_as_data(explored: Explored) -> None:
    """Seed 002's last step, field by field: the vCPU (EL1, guest) reads X=0 with
    its MMU off (Device-nGnRnE), from the PoC, while the system cache holds 1 dirty."""
    last = explored("kvm-external-l3", "clean-to-pou").steps[-1]
    assert last.actor.kind == ActorKind.PE
    assert (last.actor.name, last.actor.thread, last.actor.role, last.actor.el) == (
        "PE0 vcpu",
        "vcpu",
        "guest",
        "EL1",
    )
    assert (last.operation, last.instruction, last.target) == ("LDR", "LDR r1, X", "X")
    assert (last.effect.value, last.effect.memtype, last.effect.trap) == (0, "Device-nGnRnE", "")
    (x,) = last.after
    assert [(c.holder, c.values, c.dirty) for c in x.copies] == [("L1.PE0", (1,), False), ("SC", (1,), True)]
    assert x.memory == (0,)


def test_a_trap_names_its_reason_and_the_policy(explored: Explored) -> None:
    steps = explored("kvm-external-l3", "clean-to-pou").steps
    trap = next(s for s in steps if s.effect.trap)
    assert trap.effect.trap == "stage-2 translation fault"
    assert trap.effect.policy == ("DC CVAU X", "DSB ISH", "MAP P0")
    policy = [s for s in steps if s.actor.kind == ActorKind.POLICY]
    assert [s.instruction for s in policy] == list(trap.effect.policy)
    assert {(s.actor.role, s.actor.el) for s in policy} == {("EL2 policy", "EL2")}


def test_hardware_actors_have_their_own_lanes(explored: Explored) -> None:
    kinds = {
        s.actor.kind: s.actor for scenario, variant in VARIANTS for s in explored(scenario, variant).steps
    }
    assert {
        ActorKind.PE,
        ActorKind.POLICY,
        ActorKind.BUFFER,
        ActorKind.WALKER,
        ActorKind.DEVICE,
    } <= kinds.keys()
    assert {ActorKind.CACHE, ActorKind.ICACHE} & kinds.keys()
    for kind in (ActorKind.CACHE, ActorKind.TLB, ActorKind.ICACHE):
        if kind in kinds:
            assert kinds[kind].label == "hardware" and kinds[kind].name != "hardware"


def test_text_line_is_actor_colon_effect_then_copies(explored: Explored) -> None:
    for scenario, variant in VARIANTS:
        for rec in explored(scenario, variant).steps:
            text = step_text(rec)
            assert text.startswith(f"{rec.actor.label}: {rec.effect.text}")
            if rec.shows_copies:
                assert text.endswith(" ".join(str(x) for x in rec.after))


def test_json_steps_are_objects_with_copies(explored: Explored) -> None:
    result = explored("kvm-external-l3", "clean-to-pou")
    obj = json.loads(json.dumps(result_json(result)))
    steps = obj["witness"]
    assert len(steps) == len(result.steps)
    for rec, step in zip(result.steps, steps, strict=True):
        assert isinstance(step, dict)
        assert step["actor"]["name"] == rec.actor.name and step["operation"] == rec.operation
        assert step["text"] == step_text(rec)
    last = steps[-1]
    assert last["effect"]["value"] == 0 and last["effect"]["memory_type"] == "Device-nGnRnE"
    assert last["after"] == [
        {
            "line": "X",
            "locations": ["X"],
            "copies": [
                {"holder": "L1.PE0", "values": [1], "dirty": False},
                {"holder": "SC", "values": [1], "dirty": True},
            ],
            "memory": [0],
        }
    ]
    assert [x["line"] for x in obj["initial_copies"]] == ["X", "Y"]


def test_dot_puts_each_step_in_its_actors_column(explored: Explored) -> None:
    steps = explored("kvm-external-l3", "flush-all-set-way-at-first-run").steps
    dot = witness_dot("t", steps)
    lanes = dict(re.findall(r'  (a\d+) \[label="([^"]*)", shape=plaintext', dot))
    chains = re.findall(r"  (a\d+)((?: -> s\d+)*) \[style=dotted", dot)
    owner = {int(s): lanes[a] for a, chain in chains for s in re.findall(r"s(\d+)", chain)}
    assert owner == {n: rec.actor.name for n, rec in enumerate(steps, 1)}
    for n in range(1, len(steps) + 1):
        assert f"  s{n} [label=" in dot


class _Checker(HTMLParser):
    """Collects tags, checks nesting, and flags anything that would load from outside."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.count: dict[str, int] = {}
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.count[tag] = self.count.get(tag, 0) + 1
        if tag in ("script", "link", "img", "iframe", "object", "embed"):
            self.external.append(tag)
        self.external += [f"{k}={v}" for k, v in attrs if k in ("src", "href") or (v and "url(" in v)]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_page(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.stack, f"unclosed: {checker.stack}"
    assert not checker.external, "the page must be self-contained"
    assert "http://" not in html and "https://" not in html and "@import" not in html
    return checker


def test_html_page_has_a_row_per_step_and_a_column_per_copy(explored: Explored) -> None:
    result = explored("kvm-external-l3", "clean-to-pou")
    html = page("kvm-external-l3", [html_section(result)])
    checker = _check_page(html)
    steps = result.steps
    assert checker.count["tr"] == 2 + 1 + len(steps)  # two header rows, the initial state, the steps
    assert checker.count["section"] == 1
    text = "".join(checker.text)
    for rec in steps:
        assert rec.instruction in text or not rec.instruction
    # X reaches L1.PE0 and SC, Y only L1.PE0; each has a memory column
    assert re.findall(r'<th colspan="(\d)">(X|Y)</th>', html) == [("3", "X"), ("2", "Y")]
    assert html.count('class="copy') == (1 + len(steps)) * 5
    assert 'class="copy first changed dirty">1*<' in html  # step 3: X dirty in L1


def test_html_escapes_user_text() -> None:
    b = Builder()
    b.system(pes=1)
    b.page("P0", "X")
    b.host("cpu", "STR X, 1\nDSB SY\nSIGNAL go")
    b.device("dma", "WAIT go\nLDR r1, X")
    b.bad_when(lambda v: v.done("dma") and v.reg("dma", "r1") != 1, "<script>alert(1)</script> & stale")
    machine = Machine(b.build())
    from stalecheck.explore.search import check
    from stalecheck.report.witness_html import Section

    verdict = check(machine)
    assert verdict.steps
    section = Section(
        "a <b>",
        "reachable",
        (machine.spec.bad_text,),
        verdict.steps,
        every_line(machine, machine.initial_state()),
    )
    html = page("<title>", [section])
    _check_page(html)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; stale" in html


def test_replay_returns_records(explored: Explored) -> None:
    result = explored("kvm-external-l3", "clean-to-pou")
    machine = Machine(load_scenario("kvm-external-l3").variants["clean-to-pou"].build())
    again = replay(machine, result.verdict.witness)
    assert all(isinstance(s, StepRecord) for s in again) and again == result.steps
