"""SIGINT, SIGTERM and SIGHUP during ``graphflow run``.

The rule: the **first** signal cancels the run. Running nodes are recorded
``cancelled`` (their ``shell`` process groups killed), the rest ``skipped``;
the CLI then prints the summary, writes ``--json`` and exits 128 + the signal
number (SIGINT 130, SIGTERM 143, SIGHUP 129). A sync tool's thread cannot be
interrupted: its node is recorded at once, but the run still waits for the
thread to return, and the CLI says so.

A **second** signal of any of the three exits at once: the CLI kills every
process group its ``shell`` nodes started, prints the summary it has (nodes
still running are recorded ``cancelled``) and which threads it abandoned,
writes ``--json``, flushes, and ends the process with ``os._exit`` — the only
way past threads that never return (Python would otherwise wait for them).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Final, NoReturn

import anyio
from anyio.abc import TaskStatus

SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal's number."""
    return 128 + int(signum)


class Interrupts:
    """Watches for the three signals while a run is going.

    Args:
        on_first: called with the first signal, after cancelling ``scope``.
        on_second: called with the second signal; does not return.

    Attributes:
        scope: the cancel scope the run runs in, which the first signal
            cancels (made on the event loop, by ``watch``).
        received: the first signal received, if any.
    """

    def __init__(
        self,
        on_first: Callable[[signal.Signals], None],
        on_second: Callable[[signal.Signals], NoReturn],
    ) -> None:
        self.scope: anyio.CancelScope | None = None
        self.on_first = on_first
        self.on_second = on_second
        self.received: signal.Signals | None = None

    async def watch(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Receive signals until cancelled (start it with ``TaskGroup.start``)."""
        self.scope = scope = anyio.CancelScope()
        with anyio.open_signal_receiver(*SIGNALS) as signals:
            task_status.started()
            async for signum in signals:
                if self.received is not None:
                    self.on_second(signal.Signals(signum))
                self.received = signal.Signals(signum)
                scope.cancel()
                self.on_first(self.received)
