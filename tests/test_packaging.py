"""What a user installs: the version and the console script."""

from __future__ import annotations

import subprocess
import sys

from stalecheck import __version__


def test_version_flag_prints_the_package_version() -> None:
    res = subprocess.run(
        [sys.executable, "-c", "from stalecheck.cli import main; main()", "--version"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"stalecheck {__version__}"
