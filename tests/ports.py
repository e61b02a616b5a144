"""Free loopback ports for servers the tests and benches start (clusters, the S3 server)."""

from __future__ import annotations

import socket


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports that are free now (held together while chosen, so distinct)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
