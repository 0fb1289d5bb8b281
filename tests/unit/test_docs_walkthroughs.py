"""What the docs' walk-throughs create in a checkout stays out of git: keys, licences, outputs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def written_by_docs() -> list[str]:
    """Files the shell steps in docs/ write (`-o X`, `-out X`, `> X`, a sink config)."""
    found: set[str] = {"ingest-sink.yaml"}
    for doc in (ROOT / "docs").glob("*.md"):
        for block in re.findall(r"```(?:sh|console)\n(.*?)```", doc.read_text(), re.S):
            found.update(re.findall(r"(?:-o|-out|>)\s+([\w./-]+\.(?:pem|jwt|json))", block))
    return sorted(found)


def test_the_docs_steps_write_files_git_ignores() -> None:
    assert (ROOT / ".git").exists(), "the suite runs from a git checkout"
    paths = written_by_docs()
    assert {"out/licence/dev.key.pem", "vendor.key.pem", "acme.jwt"} <= set(paths)
    tracked = [
        p
        for p in paths
        if subprocess.run(["git", "check-ignore", "-q", p], cwd=ROOT).returncode != 0
    ]
    assert tracked == [], "docs steps create files git would pick up"
