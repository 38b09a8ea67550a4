"""The layering is enforced: `lint-imports` (pyproject.toml [tool.importlinter]) keeps the
real tree's contracts, runs in `./dev test`, and does fail when a module breaks one.

The failing case runs the real configuration on a copy of src/ with one bad import per
contract added, so a contract that could never fail (a typo in a module name, a contract
type that ignores what it should see) fails this test instead of passing silently."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

CONTRACT_NAMES = {
    "pure-no-django": "The pure packages never import Django nor the Django-side packages",
    "domain-imports-nothing-of-ours": "rollsync.domain imports nothing else of ours",
    "web-api-independent": "The web app and the JSON API never import each other",
    "services-below-doors": "Directory and access (services, selectors, models) never import a door",
    "connectors-below-sync": "Connectors never import the planner, the matcher or the simulators",
    "export-imports-domain-only": "The export writers import only rollsync.domain of ours",
}

# One module per contract, each breaking that contract and no other.
BAD_MODULES = {
    "planning/_bad_django.py": "import django.db\n",
    "domain/_bad_ours.py": "import rollsync.ingest.registry\n",
    "web/_bad_api.py": "import rollsync.api.schemas\n",
    "directory/_bad_door.py": "import rollsync.web.forms\n",
    "connectors/_bad_sim.py": "import rollsync.missim.server\n",
    "export/_bad_ingest.py": "import rollsync.ingest.registry\n",
}


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _verdicts(out: str) -> dict[str, str]:
    verdicts = {}
    for contract_id, name in CONTRACT_NAMES.items():
        found = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)$", out, re.MULTILINE)
        assert found, f"no verdict for {contract_id} in:\n{out}"
        verdicts[contract_id] = found.group(1)
    return verdicts


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _verdicts(result.stdout) == dict.fromkeys(CONTRACT_NAMES, "KEPT")
    assert "Contracts: 6 kept, 0 broken." in result.stdout


def test_each_contract_fails_on_a_bad_import(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "src" / "rollsync",
        tmp_path / "src" / "rollsync",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for relative, text in BAD_MODULES.items():
        (tmp_path / "src" / "rollsync" / relative).write_text(text)

    result = _lint(tmp_path, tmp_path / "src")

    assert result.returncode == 1, result.stdout + result.stderr
    assert _verdicts(result.stdout) == dict.fromkeys(CONTRACT_NAMES, "BROKEN")
    assert "Contracts: 0 kept, 6 broken." in result.stdout
    # Each report names the bad module, so a reader sees where the layering broke.
    for bad in (
        "planning._bad_django",
        "domain._bad_ours",
        "web._bad_api",
        "directory._bad_door",
        "connectors._bad_sim",
        "export._bad_ingest",
    ):
        assert f"rollsync.{bad}" in result.stdout


def test_dev_test_runs_the_import_contracts() -> None:
    script = (ROOT / "dev").read_text()
    test_block = script.split("  test)", 1)[1].split(";;", 1)[0]
    assert '"$VENV/bin/lint-imports"' in test_block
