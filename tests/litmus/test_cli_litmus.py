"""``stalecheck litmus``: herd text, JSON, DOT, batches with bad files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from stalecheck.cli_litmus import litmus
from stalecheck.errors import StalecheckError
from stalecheck.report.herd import normalise
from tests.litmus.conftest import SHARED

CATALOGUE = SHARED / "herd-catalogue" / "aarch64" / "tests"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _group() -> None:
        """Force sub-command mode as in the real CLI."""

    app.command("litmus")(litmus)
    return app


def _run(*args: str) -> tuple[int, str, str, BaseException | None]:
    result = CliRunner().invoke(_app(), ["litmus", *args])
    return result.exit_code, result.stdout, result.stderr, result.exception


def test_single_file_matches_herd_expected() -> None:
    path = SHARED / "herd-instructions" / "AArch64" / "A44.litmus"
    code, out, _, _ = _run(str(path))
    assert code == 0
    expected = (path.parent / "A44.litmus.expected").read_text()
    got, want = normalise(out), normalise(expected)
    # Same lines except the order of state lines, which herd does not define.
    assert got[:2] == want[:2] and sorted(got[2:5]) == sorted(want[2:5]) and got[5:] == want[5:]


def test_folder_json_summary(tmp_path: Path) -> None:
    code, out, err, _ = _run(str(CATALOGUE), "--json", "-j", "2")
    assert code == 0
    doc = json.loads(out)
    summary = doc["summary"]
    assert summary["total"] == 80
    assert summary["allowed"] + summary["forbidden"] + summary["required"] == 80
    verdicts = {t["name"]: t["verdict"] for t in doc["tests"]}
    assert verdicts["MP"] == "Allowed" and verdicts["MP+dmb.sys"] == "Forbidden"
    assert "80 tests" in err


def test_batch_continues_past_bad_files(tmp_path: Path) -> None:
    (tmp_path / "good.litmus").write_text((CATALOGUE / "SB.litmus").read_text())
    (tmp_path / "broken.litmus").write_text("AArch64 broken\n{ 0:X1=x; }\n P0 ;\n LDR W0,[X1 ;\n")
    (tmp_path / "unsup.litmus").write_text(
        "AArch64 unsup\n{ }\n P0 ;\n FROB W0 ;\nexists (0:X0=0)\n"
    )
    code, out, err, _ = _run(str(tmp_path))
    assert code == 1  # an input error in the batch makes the run fail, after the others ran
    assert "Test SB Allowed" in out
    assert "1 unsupported" in err and "1 errors" in err
    assert "broken.litmus:4" in err


def test_single_bad_file_raises_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.litmus"
    bad.write_text("AArch64 bad\n{ }\n P0 ;\n MOV W0,#1 ;\nexists (0:X0=)\n")
    code, _, _, exc = _run(str(bad))
    assert code != 0
    assert isinstance(exc, StalecheckError)
    assert "bad.litmus:5" in exc.render()


def test_index_file_and_dot(tmp_path: Path) -> None:
    index = tmp_path / "@two"
    index.write_text(f"# two tests\n{CATALOGUE / 'MP.litmus'}\n{CATALOGUE / 'SB.litmus'}\n")
    code, out, _, _ = _run(str(index), "--dot")
    assert code == 0
    assert out.count("digraph") == 2
    assert "-rf->" in out and "Witness for MP" in out


def test_bad_options() -> None:
    code, _, _, exc = _run(str(CATALOGUE / "MP.litmus"), "-j", "0")
    assert code != 0 and isinstance(exc, StalecheckError)
    code, _, _, exc = _run(str(CATALOGUE / "nope.litmus"))
    assert code != 0 and isinstance(exc, StalecheckError)


def test_ifetch_catalogue_is_refused_as_unsupported_not_errors() -> None:
    """Instruction-fetch tests need features we do not model: each is counted, none errs."""
    code, out, _, _ = _run(str(SHARED / "herd-catalogue" / "aarch64-ifetch"), "--json", "-j", "2")
    summary = json.loads(out)["summary"]
    assert code == 0
    assert summary["total"] == 326
    assert summary["error"] == 0 and summary["timeout"] == 0
    assert summary["unsupported"] + summary["allowed"] + summary["forbidden"] \
        + summary["required"] == 326


def test_variant_option_refuses_what_it_cannot_model(tmp_path: Path) -> None:
    """``--variant kvm`` asks for herd's VMSA semantics: a test that needs a CASP with
    translation is counted as unsupported rather than checked without it;
    one with walks, page-table stores, TLBIs, hardware updates and CAS is decided with
    walks; one that names no translation state is decided by the base model (vmsa_scope.py)."""
    files = [str(CATALOGUE / "MP+dmb.sys.litmus"), str(CATALOGUE / "SB+dmb.sys.litmus")]
    code, out, err, _ = _run("--variant", "memtag,fatal", *files)
    assert code == 0 and out == ""
    assert "2 unsupported" in err and "'memtag'" in err
    vmsa = SHARED / "herd-catalogue" / "aarch64-VMSA" / "tests"
    casps = [tmp_path / f"casp{k}.litmus" for k in range(2)]
    for casp in casps:
        casp.write_text("AArch64 T\n{ [PTE(x)]=(oa:PA(x), db:0); 0:X4=x; }\n P0 ;\n"
                        " CASP X0,X1,X2,X3,[X4] ;\nexists (0:X0=0)\n")
    code, out, err, _ = _run("--variant", "kvm,fatal", *map(str, casps))
    assert code == 0 and out == ""
    assert "2 unsupported" in err and "CASP" in err
    for name in ("coRR-pte4", "needTLBI1", "2+2WNExpExp+NExpExp", "LDRx+LDSETptex+af",
                 "LDR-BY2PTE-0-LLSC", "CASAL+FAIL+FH", "F1c+Fatal"):
        code, out, _, _ = _run("--variant", "kvm,fatal", str(vmsa / f"{name}.litmus"))
        assert code == 0 and "Observation " in out, name
    code, out, _, _ = _run("--variant", "kvm,fatal", files[0])
    assert code == 0 and "Observation MP+dmb.sys Never" in out
    code, out, _, _ = _run("--variant", "fatal", files[0])
    assert code == 0 and "Observation MP+dmb.sys Never" in out
