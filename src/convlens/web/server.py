"""Serving the explorer: uvicorn with limits a local tool can afford.

- at most LIMIT_CONCURRENCY connections and requests at once (more get 503);
- a request head (request line and headers) of at most MAX_HEAD_BYTES, which must arrive
  within HEAD_SECONDS of the connection opening or of the previous response, else the
  connection is closed (a client that sends its headers a byte at a time holds nothing);
- idle keep-alive connections closed after KEEP_ALIVE_SECONDS;
- the body of an upload is timed by the app (`convlens.web.uploads`: a total time, a
  minimum rate, a few bodies at once); a request answered before its body arrived (refused
  or cut off) has its connection closed, so a slow sender holds nothing after its answer.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from convlens.errors import ConfigError

LIMIT_CONCURRENCY = 32
HEAD_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
MAX_HEAD_BYTES = 16 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head."""

    head_seconds = HEAD_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._busy():  # the head arrived: the request is the app's business now
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.SEND_BODY:
            # answered before its body arrived (refused, or cut off as too slow): a client
            # that keeps sending would otherwise keep its connection, and its slot, forever
            self.transport.close()
            return
        if not self.transport.is_closing() and not self._busy():
            self._arm()  # the next request's head has its own deadline

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self._busy() and not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for the explorer, with the limits above."""
    settings: dict[str, Any] = dict(
        host=host,
        port=port,
        http=GuardedH11Protocol,
        log_level="warning",
        limit_concurrency=LIMIT_CONCURRENCY,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        ws="none",  # the page uses no websockets
        lifespan="off",
    )
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


def listen(host: str, port: int, *, flag: str = "--port ") -> socket.socket:
    """A socket bound to `host`:`port` (0: a free port the system picks), bound before
    anything says the explorer is up; a busy port is a one-line ConfigError naming a free one
    (`flag`: how the door spells the option, "--port " or "port=")."""
    address = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not a busy port's
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} is in use; try {flag}{_free_port(address, port)}"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _free_port(address: str, busy: int) -> int:
    """The first port after `busy` that is free now (else one the system picks)."""
    for port in [*range(busy + 1, min(busy + 100, 65536)), 0]:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    return 0


def serve(app: Any, sock: socket.socket) -> None:
    """Serve `app` on the bound socket `sock` (from `listen`) until Ctrl-C."""
    host, port = sock.getsockname()[:2]
    uvicorn.Server(server_config(app, host, port)).run(sockets=[sock])
