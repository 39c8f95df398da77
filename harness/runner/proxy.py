"""A TCP proxy between a cell's sessions and its database server, for the network faults.

The harness runs it itself on 127.0.0.1 and points the sessions (and an application's own engine)
at it, while the admin connection that creates and drops the scratch database goes straight to the
server. Three faults act on it, the three ways a network fails: ``partition`` drops (cuts every
connection and refuses new ones for a while: the sessions see their connections reset and cannot
reconnect until it heals), ``hang`` holds (connections stay open and new ones are accepted, but no
byte passes either way: a statement neither fails nor answers until it heals, as behind a dead
link that sends no reset), ``latency`` delays every chunk of bytes in both directions.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

CHUNK = 65536


class Proxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._refuse_until = 0.0
        self._delay_until, self._delay_s = 0.0, 0.0
        self._hang_until = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._thread.start()

    # --- faults ---------------------------------------------------------------------------------------

    def partition(self, seconds: float) -> int:
        """Reset every connection and refuse new ones for ``seconds``: how many were cut."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds
            cut, self._open = list(self._open), set()
        for sock in cut:
            _close(sock)
        time.sleep(seconds)
        return len(cut) // 2  # two sockets a connection

    def latency(self, seconds: float, delay_s: float) -> None:
        """Delay every chunk by ``delay_s`` for ``seconds``."""
        with self._lock:
            self._delay_until, self._delay_s = time.monotonic() + seconds, delay_s
        time.sleep(seconds)

    def hang(self, seconds: float) -> None:
        """Pass no byte either way for ``seconds``; every connection stays open."""
        with self._lock:
            self._hang_until = time.monotonic() + seconds
        time.sleep(seconds)

    # --- forwarding -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if time.monotonic() < self._refuse_until:
                _close(client)  # the network is down: the connection attempt fails at once
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), name="proxy-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                while (wait := self._hang_until - time.monotonic()) > 0:
                    time.sleep(min(wait, 0.05))  # held, not lost: it passes when the link heals
                if time.monotonic() < self._delay_until:
                    time.sleep(self._delay_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _close(src)
            _close(dst)

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        with self._lock:
            cut, self._open = list(self._open), set()
        for sock in cut:
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
