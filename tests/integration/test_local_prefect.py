"""``flows/local_prefect.py``: where ``okrflow serve``'s own Prefect server keeps its state, and what a server
that cannot start tells the user (a real ``prefect server start`` on a database URL it cannot load)."""

from __future__ import annotations

from pathlib import Path

import pytest
from okrflow.flows.local_prefect import LocalPrefectError, local_prefect_server, prefect_data_dir


@pytest.mark.parametrize(
    ("xdg", "expected"),
    [
        ("/srv/data", Path("/srv/data/okrflow/prefect")),
        (None, Path("/home/u/.local/share/okrflow/prefect")),
        ("", Path("/home/u/.local/share/okrflow/prefect")),
        ("relative/dir", Path("/home/u/.local/share/okrflow/prefect")),  # the XDG spec ignores relative paths
    ],
)
def test_the_data_folder_follows_xdg_data_home(monkeypatch, xdg, expected):
    monkeypatch.setenv("HOME", "/home/u")
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    assert prefect_data_dir() == expected


@pytest.mark.prefect
@pytest.mark.timeout(120)
def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "notadialect://nowhere")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(LocalPrefectError) as info, local_prefect_server(tmp_path, timeout_s=90):
        pytest.fail("the server started on a database URL it cannot load")
    message = str(info.value)
    assert "the local Prefect server exited with status" in message
    assert str(tmp_path / "server.log") in message and "notadialect" in message
