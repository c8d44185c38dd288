"""The install a Python user does: build the wheel, install it into a fresh virtual environment outside the
checkout, and run `okrflow init`, `validate` and `demo` from an empty folder."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        cwd=out,
        capture_output=True,
    )
    (built,) = out.glob("okrflow-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; its dependencies come from this venv's site-packages through a
    .pth line (a plain path: the checkout's editable finder there is not loaded), so no download is needed."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "deps-from-test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    return venv


def test_wheel_holds_the_examples_and_no_checkout_paths(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "okrflow/examples/example.yaml" in names
    assert "okrflow/templates/starter.yaml" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "config/"))]
    top_level = {n.split("/")[0] for n in names if not n.startswith("okrflow-")}  # okrflow-VERSION.dist-info
    assert top_level == {"okrflow"}, "only okrflow's own name in site-packages (no flows/, connectors/)"
    assert "okrflow/flows/evaluate.py" in names and "okrflow/connectors/gx_expectations.json" in names


def test_init_validate_and_demo_from_any_folder(installed, tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OKRFLOW_", "WAREHOUSE_", "MLFLOW_", "PROMETHEUS_"))
    }
    env["PATH"] = f"{installed / 'bin'}{os.pathsep}{env['PATH']}"
    okrflow = str(installed / "bin" / "okrflow")

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([okrflow, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)

    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import okrflow; print(okrflow.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), where  # the wheel's copy, not the checkout

    init = run("init", "--team", "ML platform")
    assert init.returncode == 0, init.stderr + init.stdout
    validate = run("validate")
    assert validate.returncode == 0, validate.stderr + validate.stdout
    assert "okrflow.yaml: ok" in validate.stdout

    demo = run("demo", "--runs", "2", timeout=600)
    assert demo.returncode == 0, demo.stderr[-3000:] + demo.stdout[-3000:]
    assert "Report: " in demo.stdout
    assert (tmp_path / "okrflow-demo" / "okrflow.db").exists()  # the demo's world is under the current folder
    assert (tmp_path / "okrflow-demo" / "report.html").exists()
    # the demo's config (the example, cycle around today) is named in its closing lines and reads its store
    assert "okrflow -c okrflow-demo/okrflow.yaml status" in demo.stdout
    status = run("-c", "okrflow-demo/okrflow.yaml", "status", "--format", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["run"] is not None, status.stderr + status.stdout
    assert site.getsitepackages()  # the test venv itself is untouched: nothing was installed into it
