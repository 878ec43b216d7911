"""The producer's inbox: why it should claim again, set from any thread.

One object, one lock, instead of flags written by several threads without one: the
notifier reports NOTIFYs and control messages (:meth:`Wake.notified`), the executor a
freed slot (:meth:`Wake.slot_freed`), the completer a written batch (:meth:`Wake.written`),
anyone a due time (:meth:`Wake.due_in`), a probe for the next due time
(:meth:`Wake.want_probe`) or the stop (:meth:`Wake.stop`). The producer
reads and clears the reasons (:meth:`Wake.take`) and sleeps on it (:meth:`Wake.sleep`).
"""

from __future__ import annotations

import threading
import time


class Wake:
    """Reasons to claim, the due-time timer and the stop request of one producer.

    ``batch_min``: with a backlog, a freed slot wakes the producer only once this many
    slots are free (or none is busy), so a drain claims in batches and the GIL is not
    passed back and forth once per job. ``eager``: every freed slot wakes it (set while a
    limit holds due jobs back, and with ``stop_when_idle``).
    """

    __slots__ = (
        "_due_at",
        "_event",
        "_freed",
        "_full",
        "_lock",
        "_notified",
        "_parked",
        "_probe",
        "_stopping",
        "batch_min",
        "eager",
    )

    def __init__(self, batch_min: int = 1, *, eager: bool = False) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._notified = False
        self._freed = False
        self._full = False
        self._parked = False
        self._probe = False
        self._stopping = False
        self._due_at: float | None = None
        self.batch_min = batch_min
        self.eager = eager

    # --- senders (any thread) ---------------------------------------------------------------
    def notified(self, *, claim_here: bool = False) -> bool:
        """Jobs may be due (a NOTIFY, a queue resumed). With ``claim_here``, True means
        the producer is parked (free slots, nothing to do) and the caller should claim
        itself; the producer is then not woken."""
        with self._lock:
            self._notified = True
            if claim_here and self._parked and not self._stopping:
                return True
        self._event.set()
        return False

    def slot_freed(self, busy: int, free: int) -> None:
        """An execution slot was freed (``busy``/``free``: the slots now)."""
        with self._lock:
            self._freed = True
            if not (self._full or busy == 0 or free >= self.batch_min or self.eager):
                return
            self._full = False
        self._event.set()

    def written(self) -> None:
        """A batch of outcomes was written: jobs a limit held back may be claimable."""
        with self._lock:
            self._freed = True
        self._event.set()

    def due_in(self, seconds: float) -> None:
        """Claim again ``seconds`` from now (a retry, a snooze, a scheduled job)."""
        at = time.monotonic() + seconds
        with self._lock:
            if self._due_at is not None and at >= self._due_at:
                return  # the producer already wakes by then
            self._due_at = at
        self._event.set()

    def want_probe(self) -> None:
        """Ask for a claim followed, if it comes back short, by a probe of the next due
        time (after a reconnect, or a scheduled wake-up the process cannot time itself)."""
        with self._lock:
            self._probe = True
        self._event.set()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._event.set()

    # --- the producer's side ----------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def parked(self) -> bool:
        return self._parked

    @property
    def scheduled(self) -> bool:
        """Whether a due time is set."""
        return self._due_at is not None

    def pending(self) -> tuple[bool, bool]:
        """(notified, freed) without clearing them."""
        return self._notified, self._freed

    def take(self) -> None:
        """Clear notified and freed: the claim about to run answers them."""
        with self._lock:
            self._notified = False
            self._freed = False

    def take_probe(self) -> bool:
        """Whether a probe was asked for (and clear the request)."""
        with self._lock:
            probe, self._probe = self._probe, False
            return probe

    def take_notified(self) -> None:
        with self._lock:
            self._notified = False

    def is_due(self, now: float) -> bool:
        """Whether the due time has come (it stays set until :meth:`clear_due`)."""
        with self._lock:
            return self._due_at is not None and now >= self._due_at

    def clear_due(self) -> None:
        with self._lock:
            self._due_at = None

    def set_full(self, full: bool) -> None:
        """No free slot (set before counting them: a slot freed in between still wakes)."""
        with self._lock:
            self._full = full

    def sleep(self, until: float | None) -> None:
        """Wait for a reason, or until monotonic ``until`` / the due time, whichever is
        first. ``until=None`` waits for a free slot (not parked: a NOTIFY is not claimed
        on the listener's thread then)."""
        timeout: float | None = None
        with self._lock:
            if until is not None:
                due = until if self._due_at is None else min(until, self._due_at)
                timeout = max(0.0, due - time.monotonic())
            self._parked = until is not None
        try:
            self._event.wait(timeout)
        finally:
            with self._lock:
                self._parked = False
            self._event.clear()
