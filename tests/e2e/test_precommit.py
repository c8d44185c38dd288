"""The pre-commit hooks of ``.pre-commit-hooks.yaml``, run by ``pre-commit try-repo`` as a team's repo would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GOOD = (ROOT / "config" / "example.yaml").read_text()
BAD = GOOD.replace("kind: maintain_below", "kind: maintain_lower", 1)


@pytest.fixture
def team_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git repository holding okrflow configs; pre-commit's cache in tmp; okrflow and git on PATH."""
    repo = tmp_path / "okrs"
    repo.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))},
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
    (repo / "okrflow.yaml").write_text(GOOD)
    (repo / "teams").mkdir()
    (repo / "teams" / "okrflow-search.yaml").write_text(BAD)
    (repo / "notes.yaml").write_text("not: an okrflow config\n")
    subprocess.run(["git", "add", "."], cwd=repo, env=env, check=True)
    # The hook repository: this checkout's .pre-commit-hooks.yaml, committed alone (try-repo on the working
    # tree would copy every uncommitted change of the checkout into its shadow repository).
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / ".pre-commit-hooks.yaml").write_text((ROOT / ".pre-commit-hooks.yaml").read_text())
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=hooks, env=env, check=True)
    subprocess.run(["git", "add", "."], cwd=hooks, env=env, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "hooks"], cwd=hooks, env=env, check=True)
    env["OKRFLOW_HOOK_REPO"] = str(hooks)
    return repo, env


def try_repo(repo: Path, env: dict[str, str], hook: str, *files: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "pre-commit"), "try-repo", env["OKRFLOW_HOOK_REPO"], hook, "--verbose"]
    command += ["--files", *files] if files else ["--all-files"]
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def test_the_hook_file_offers_validate_and_lint() -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"okrflow-validate", "okrflow-lint"}
    assert hooks["okrflow-validate"]["entry"] == "okrflow validate" and hooks["okrflow-lint"]["entry"] == "okrflow lint"
    assert all(h["language"] == "system" and "okrflow on PATH" in h["description"] for h in hooks.values())


def test_validate_hook_passes_a_good_config_and_fails_a_bad_one(team_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = team_repo
    good = try_repo(repo, env, "okrflow-validate", "okrflow.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "okrflow validate" in good.stdout and "Passed" in good.stdout
    direct = subprocess.run(
        [str(BIN / "okrflow"), "validate", "okrflow.yaml"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert direct.returncode == 0 and direct.stdout.startswith("okrflow.yaml: ok ("), direct.stdout + direct.stderr
    assert direct.stdout.strip() in good.stdout  # the hook printed what okrflow validate says

    every = try_repo(repo, env, "okrflow-validate")  # --all-files: both configs, not notes.yaml
    assert every.returncode == 1, every.stdout + every.stderr
    assert "Failed" in every.stdout and "exit code: 2" in every.stdout
    assert "teams/okrflow-search.yaml" in every.stdout and "maintain_lower" in every.stdout
    assert "okrflow.yaml: ok" in every.stdout, "the good file is still checked and reported"
    assert "notes.yaml" not in every.stdout.replace("okrflow-search.yaml", "")


def test_lint_hook_runs_on_the_changed_config(team_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = team_repo
    linted = try_repo(repo, env, "okrflow-lint", "okrflow.yaml")
    assert "okrflow lint" in linted.stdout and "- hook id: okrflow-lint" in linted.stdout, linted.stdout
    lint = subprocess.run(
        [str(BIN / "okrflow"), "lint", "okrflow.yaml"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert linted.returncode == (1 if lint.returncode else 0), linted.stdout  # the hook fails exactly as lint does
    assert lint.stdout.strip().splitlines()[0] in linted.stdout
