#!/usr/bin/env python3
"""Exit 0 once a Kafka broker at HOST:PORT answers ApiVersions v0 with error_code 0.

usage: kafka_ready.py HOST:PORT [TIMEOUT]

Stdlib only, so it runs before any project venv exists. An open port alone is
not enough: a half-started JVM, or an unrelated process, may hold it.
ApiVersions v0 is still accepted by Kafka 4.x (KIP-896 kept it).
"""

from __future__ import annotations

import socket
import struct
import sys
import time

API_VERSIONS = 18
CLIENT_ID = b"kafka-ready"
POLL_INTERVAL = 0.25


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def probe(host: str, port: int, timeout: float) -> None:
    """Raise unless one ApiVersions v0 round trip succeeds with error_code 0."""
    correlation_id = int(time.monotonic() * 1000) & 0x7FFFFFFF
    # Request header v1 (api_key, api_version, correlation_id, client_id); v0 body is empty.
    payload = struct.pack(">hhih", API_VERSIONS, 0, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        if size < 6 or size > 1 << 20:
            raise ValueError(f"implausible response size {size}")
        body = _recv_exact(sock, size)
    got_cid, error_code = struct.unpack(">ih", body[:6])
    if got_cid != correlation_id:
        raise ValueError(f"correlation id mismatch: sent {correlation_id}, got {got_cid}")
    if error_code != 0:
        raise ValueError(f"ApiVersions error_code {error_code}")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or ":" not in argv[1]:
        print("usage: kafka_ready.py HOST:PORT [TIMEOUT]", file=sys.stderr)
        return 2
    host, _, port_s = argv[1].rpartition(":")
    host = host.strip("[]")
    port = int(port_s)
    timeout = float(argv[2]) if len(argv) == 3 else 30.0
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        try:
            probe(host, port, max(0.1, min(2.0, remaining)))
            return 0
        except (OSError, ValueError, struct.error) as exc:
            last_error = exc
        if time.monotonic() + POLL_INTERVAL >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    print(f"kafka at {host}:{port} not ready after {timeout:g}s: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
