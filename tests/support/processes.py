"""Process helpers shared by the sandbox and containment tests."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """True for a live process (a zombie waiting to be reaped is dead; so is one gone while we
    look, and a name with spaces or parentheses does not confuse the parse)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
