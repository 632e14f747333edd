"""What the broker launchers share: free loopback ports, and stopping a child process."""

from __future__ import annotations

import socket
import subprocess

__all__ = ("accepts", "free_port", "stop")


def free_port() -> int:
    """A loopback port nothing listens on now (another process may take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate a process started here (kill it if it does not exit within ``timeout``)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
