"""``check --html``, ``explain --html`` and ``--json``: the witness leaves the CLI as data."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import run


def test_check_html_writes_one_page_with_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "w.html"
    res = run("check", "kvm-external-l3", "-v", "clean-to-pou", "-v", "clean-to-poc", "--html", str(out))
    assert res.returncode == 0, res.stderr
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<section>") == 2
    assert html.count('<table class="witness">') == 1, "only the reachable variant has a witness"
    assert "kvm-external-l3/clean-to-poc: unreachable" in html
    assert "witness (13 steps" in res.stdout, "the text is printed as well"


def test_explain_html_and_json_steps(tmp_path: Path) -> None:
    first = json.loads(run("check", "kvm-external-l3", "-v", "clean-to-pou", "--json").stdout)
    assert all(isinstance(step, dict) and step["actor"]["name"] for step in first["witness"])
    out = tmp_path / "e.html"
    res = run("explain", "kvm-external-l3", "clean-to-pou", first["replay"], "--html", str(out))
    assert res.returncode == 0, res.stderr
    printed = [line.split(". ", 1)[1] for line in res.stdout.strip().splitlines()]
    assert printed == [step["text"] for step in first["witness"]]
    html = out.read_text(encoding="utf-8")
    assert html.count("<tr>") + html.count("<tr class=initial>") == 2 + 1 + len(first["witness"])


def test_html_to_an_unwritable_path_is_a_user_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.html"
    res = run("check", "kvm-external-l3", "-v", "hcr-dc-dma", "--html", str(target))
    assert res.returncode == 2 and "--html" in res.stderr and "Traceback" not in res.stderr
