"""The notifier: the worker's LISTEN connection (:class:`~.listener.Listener`) and what
its messages mean.

A NOTIFY for one of the worker's queues tells the producer jobs may be due; while the
producer is parked the claim runs right here, on the listener's thread and connection
(:meth:`~.producer.Producer.claim_on`). One that announces a job scheduled for later
(payload ``"<queue> <epoch>"``, migration 0010) sets the producer's due-time timer
(:meth:`~.producer.Producer.scheduled`) without a query. A control message (:mod:`.messages`) cancels a
job this worker runs, or makes it claim again at once after a pause, resume or limits
change of one of its queues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from ..errors import ConfigurationError
from . import pooled
from .due import parse_wake
from .listener import Listener
from .messages import Cancel, QueueChanged, parse_control
from .producer import ClaimedOn
from .service import Service
from .wakeup import Wake

log = logging.getLogger("pgqueue.worker")


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """``listen=False`` is the poll-only mode (no LISTEN connection, e.g. behind a
    transaction pooler without ``listen_dsn``); ``listen_dsn`` is a direct connection for
    the LISTEN when the main DSN goes through a pooler."""

    listen: bool = True
    listen_dsn: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.listen, bool):
            raise ConfigurationError(f"listen must be True or False, got {self.listen!r}")


class Notifier(Service):
    """Routes the LISTEN connection's messages: wake-ups to the producer's ``wake`` (or a
    claim on this connection through ``claim_on``), cancels to ``cancel_job``."""

    name = "notifier"

    def __init__(
        self,
        config: NotifierConfig,
        dsn: str,
        queues: tuple[str, ...],
        wake: Wake,
        claim_on: Callable[[psycopg.Connection[Any]], ClaimedOn],
        cancel_job: Callable[[int], None],
        scheduled: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.queues = frozenset(queues)
        self._wake = wake
        self._claim_on = claim_on
        self._cancel_job = cancel_job
        self._scheduled = scheduled if scheduled is not None else (lambda _at: wake.want_probe())
        self.claims_here = True
        """Off for good after a claim failed on this connection other than by losing it
        (e.g. a ``listen_dsn`` role without the claim's grants)."""
        self.listener = Listener(
            config.listen_dsn or dsn,
            self.on_wake,
            on_control=self.on_control,
            on_claim=self._claim,
            configure=pooled.configure,
        )

    @property
    def connected(self) -> bool:
        """Whether the LISTEN is in place (a NOTIFY from now on reaches this worker)."""
        return self.listener.connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the LISTEN is in place, or ``timeout``; the test signal."""
        return self.listener.connected.wait(timeout)

    def start(self) -> None:
        self.listener.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.listener.stop()

    def run_once(self) -> float | None:
        raise NotImplementedError("the notifier runs on its Listener's thread")

    def on_wake(self, payload: str | None) -> bool:
        """A NOTIFY (None: after a (re)connect, notifications may have been missed).
        True asks the listener to claim on its connection."""
        claim = False
        if payload is None:
            # Notifications may have been missed: claim, and look for the next scheduled job.
            self._wake.want_probe()
            self._wake.notified()
        elif payload in self.queues:
            claim = self._wake.notified(claim_here=self.claims_here)
        else:
            queue, run_at = parse_wake(payload)
            if queue in self.queues:
                if run_at is None:
                    claim = self._wake.notified(claim_here=self.claims_here)
                else:
                    self._scheduled(run_at)
        if not claim:
            self._ran()  # test signal: this notification is handled (the producer was woken)
        return claim

    def _claim(self, conn: psycopg.Connection[Any]) -> None:
        try:
            if self._claim_on(conn) is ClaimedOn.FAILED:
                self.claims_here = False
        finally:
            self._ran()  # test signal: this notification is handled (claimed here)

    def on_control(self, payload: str) -> None:
        """A message on the control channel (see pgqueue._admin.control)."""
        message = parse_control(payload)
        if isinstance(message, Cancel):
            self._cancel_job(message.job_id)
        elif isinstance(message, QueueChanged) and message.queue in self.queues:
            self._wake.notified()
        self._ran()  # test signal: this message is handled
