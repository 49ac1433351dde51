"""Session-wide real Kafka broker for integration tests.

KAFKA_BOOTSTRAP set (CI starts one broker for the whole run): use it as is.
Otherwise start a private single-node KRaft broker via scripts/kafka-local.sh on free
ports and stop it at the end of the session. A broker that cannot be started fails the
tests instead of skipping them, so a broken setup never passes silently.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
# Covers a cold jar fetch plus the script's own readiness timeout.
START_TIMEOUT_S = 600


def _free_ports(n: int) -> list[int]:
    # Hold all sockets open together so the ports are distinct.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _check_reachable(bootstrap: str) -> None:
    first = bootstrap.split(",")[0].strip()
    first = first.removeprefix("kafka://").removeprefix("PLAINTEXT://")
    probe = subprocess.run(
        [sys.executable, str(SCRIPTS / "kafka_ready.py"), first, "30"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.fail(f"KAFKA_BOOTSTRAP={bootstrap} is not answering: {probe.stderr.strip()}", pytrace=False)


def _run_script(cmd: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / "kafka-local.sh"), cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP", "").strip()
    if external:
        _check_reachable(external)
        yield external
        return

    port, controller_port = _free_ports(2)
    run_dir = tmp_path_factory.mktemp("kafka-run")
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
        "KAFKA_RUN": str(run_dir),
    }

    def stop() -> None:
        try:
            _run_script("stop", env, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass

    try:
        started = _run_script("start", env, timeout=START_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        stop()
        pytest.fail(f"could not start Kafka via scripts/kafka-local.sh: {exc!r}", pytrace=False)
    if started.returncode != 0:
        stop()
        pytest.fail(
            f"scripts/kafka-local.sh start exited {started.returncode}:\n"
            f"{started.stdout}{started.stderr}".rstrip(),
            pytrace=False,
        )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop()
