"""Find the processes a test started, by a marker in their environment (children inherit it), and wait
for them to be gone."""

from __future__ import annotations

import time

import psutil

MARK = "STRATA_TEST_MARK"


def marked(token: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose environment holds STRATA_TEST_MARK=token."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def survivors(token: str, patience_s: float = 60.0) -> list[str]:
    """The marked processes still alive after up to ``patience_s`` (a bound, not a measurement: dying
    processes are polled until gone), killed so a failing test leaves nothing behind; empty when none
    survived."""
    deadline = time.monotonic() + patience_s
    while (left := marked(token)) and time.monotonic() < deadline:
        time.sleep(0.2)
    names = []
    for proc in left:
        try:
            names.append(" ".join(proc.cmdline()[:4]))
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    return names
