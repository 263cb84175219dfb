"""Security: TLS verified by default, no secret anywhere it could leak, the
password never on the command line, and state readable by its owner only."""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ctera_audit import Portal, PortalLogin, collect_async
from ctera_audit.blockcodec import new_secret_access_key
from ctera_audit.collector import CollectorSettings
from ctera_audit.errors import AuthenticationError, CertificateError
from ctera_audit.runner import ContentSettings

from .conftest import StartSimulator

PASSWORD = "Pw-7f3a9c-do-not-leak"
WRONG_PASSWORD = "Wrong-5b8e-do-not-leak"
ACCESS_KEY_ID = "AK-9d2e1b-do-not-leak"
SECRET_ACCESS_KEY = new_secret_access_key()


async def test_tls_is_verified_unless_told_otherwise(start_simulator: StartSimulator):
    simulator = start_simulator(events=100, tls=True)

    async with Portal(simulator.url) as portal:
        with pytest.raises(CertificateError, match="not trusted"):
            await portal.login("admin", "secret")
    async with Portal(simulator.url, verify=str(simulator.cert_path)) as portal:
        await portal.login("admin", "secret")
        page = await portal.list_changes(None, max_results=10)

    assert len(page.entries) == 10


async def test_no_secret_in_logs_errors_reprs_dataset_or_state(
    start_simulator: StartSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    simulator = start_simulator(
        events=300,
        password=PASSWORD,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    out = tmp_path / "ds"
    login = PortalLogin(simulator.url, "admin", PASSWORD)
    content = ContentSettings("store", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    caplog.set_level(logging.DEBUG)

    summary = await collect_async(
        out, login, settings=CollectorSettings(until_idle=True), content=content
    )
    async with Portal(simulator.url) as portal:
        with pytest.raises(AuthenticationError) as refused:
            await portal.login("admin", WRONG_PASSWORD)
        shown = [repr(portal), str(refused.value), repr(refused.value)]

    assert summary.committed_events == 300
    assert any((out / "_content").rglob("*")), "content store was not exercised"
    shown += [repr(login), repr(content), caplog.text]
    files = [path.read_bytes() for path in out.rglob("*") if path.is_file()]
    for secret in (PASSWORD, WRONG_PASSWORD, ACCESS_KEY_ID, SECRET_ACCESS_KEY):
        for text in shown:
            assert secret not in text, text[text.find(secret) - 300 :][:600]
        assert not any(secret.encode() in data for data in files), secret


def test_the_password_is_never_taken_from_the_command_line(tmp_path: Path):
    command = [sys.executable, "-m", "ctera_audit", "collect"]

    helped = subprocess.run([*command, "--help"], capture_output=True, text=True)
    target = ["--portal", "http://127.0.0.1:9", "--out", str(tmp_path / "ds")]
    refused = subprocess.run(
        [*command, *target, "--username", "admin", "--password", PASSWORD],
        capture_output=True,
        text=True,
    )

    assert helped.returncode == 0 and "CTERA_PASSWORD" in helped.stdout
    assert "--password" not in helped.stdout
    assert refused.returncode == 2
    assert "unrecognized arguments: --password" in refused.stderr
    assert not (tmp_path / "ds").exists()


async def test_state_and_content_are_owner_only(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=200)
    out = tmp_path / "ds"
    login = PortalLogin(simulator.url, "admin", "secret")
    keys = simulator.portal.config
    content = ContentSettings("store", keys.access_key_id, keys.secret_access_key)

    await collect_async(
        out, login, settings=CollectorSettings(until_idle=True), content=content
    )

    private = [out / "_state", *(out / "_state").rglob("*")]
    private += [out / "_content", *(out / "_content").rglob("*")]
    assert len(private) > 4
    for path in private:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is open to others: {oct(mode)}"
