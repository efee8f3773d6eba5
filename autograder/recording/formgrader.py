"""``python -m autograder formgrader``: nbgrader's formgrader for the TAs, with one command.

nbgrader 0.9 has no ``nbgrader formgrader`` command: formgrader is a Jupyter server extension.
This starts a Jupyter server in the course folder with that extension only (no terminals, no
other nbgrader extensions), bound to 127.0.0.1 with a fresh token, waits until it answers, and
prints the URL to open. Ctrl-C (or SIGTERM) stops the server and everything it started.

Formgrader's per-submission **Autograde** button would run the student's notebook in the
server's own process, outside the sandbox: in the server this module starts, that request is
refused with a message that says to grade with ``python -m autograder grade`` (which records
its grades in the same gradebook). The TAs grade the inline questions, comment and save; a
regrade keeps what they entered (see `autograder.recording.recorder`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REFUSAL = ("Autograde is switched off in this course: it would run the student's code inside "
           "this Jupyter server, outside the grader's sandbox. Grade with `python -m autograder "
           "grade SUBMISSIONS --out OUT` instead: it runs student code only in the sandbox and "
           "records the scores in this gradebook, where they appear here.")
_EXTENSION = "nbgrader.server_extensions.formgrader"
_START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(course: Path, port: int, token: str) -> list[str]:
    """The command that runs the guarded server (`serve`) in a fresh interpreter."""
    return [sys.executable, "-m", "autograder.recording.formgrader", "--serve",
            "--course", str(course),
            "--port", str(port), "--token", token]


def _server_env() -> dict[str, str]:
    """This environment, with the kit importable from the course folder and nbgrader's tools
    (alembic) on PATH."""
    from autograder.authoring.course import tool_env
    from autograder.config import REPO_ROOT

    env = tool_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH"))
                                        if p)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def _wait_until_up(url: str, token: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with status {process.returncode} "
                               "before it answered (its messages are above)")
        try:
            request = urllib.request.Request(f"{url}api/status",
                                             headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the Jupyter server did not answer within {seconds:.0f} s")


def start(course: Path, port: int | None = None, token: str | None = None,
          quiet: bool = False) -> tuple[subprocess.Popen, str]:
    """Start the server for ``course``; return (the process, the URL with its token).

    The server runs in its own process group; `stop` ends the whole group.
    """
    course = Path(course).resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise FileNotFoundError(
            f"{course} is not an nbgrader course folder (no nbgrader_config.py): run "
            "`python -m autograder release --out DIR` first, or pass --course")
    port = port or free_port()
    token = token or secrets.token_hex(24)
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(server_command(course, port, token), cwd=course,
                               start_new_session=True, stdout=output, stderr=output,
                               env=_server_env())
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(base, token, process, _START_SECONDS)
    except BaseException:
        stop(process)
        raise
    return process, f"{base}formgrader?token={token}"


def stop(process: subprocess.Popen, seconds: float = 10.0) -> None:
    """End the server and every process it started (its process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=seconds)
            return
        except subprocess.TimeoutExpired:
            continue


def serve(course: Path, port: int, token: str) -> None:
    """Run the server in this process: formgrader only, Autograde refused."""
    from jupyter_server.serverapp import ServerApp
    from nbgrader.server_extensions.formgrader import apihandlers

    def refuse(self, assignment_id, student_id):
        self.write(json.dumps({"success": False, "error": REFUSAL, "log": REFUSAL}))

    apihandlers.AutogradeHandler.post = refuse
    extensions = {name: False for name in (
        "nbgrader.server_extensions.validate_assignment",
        "nbgrader.server_extensions.assignment_list",
        "nbgrader.server_extensions.course_list", "jupyter_server_terminals",
        "jupyterlab", "notebook", "jupyter_lsp", "notebook_shim")}
    extensions[_EXTENSION] = True
    app = ServerApp.instance()
    app.initialize(argv=[
        f"--ServerApp.root_dir={course}", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
        *(f"--ServerApp.jpserver_extensions={name}={on}" for name, on in extensions.items()),
        "--ServerApp.terminals_enabled=False",
        *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
    ])
    app.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder formgrader",
        description="Start nbgrader's formgrader for the course (TAs grade the inline "
                    "questions there). Ctrl-C stops it.")
    parser.add_argument("--course", type=Path, default=None,
                        help="the nbgrader course folder (default: the one the last "
                             "`release` recorded)")
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.course, args.port, args.token)
        return 0
    from autograder.authoring.course import recorded_course

    course = args.course or recorded_course()
    process, url = start(course, args.port)
    print(f"formgrader for {course}:\n    {url}\n(open it in a browser; Ctrl-C stops the "
          "server)", flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        process.wait()
    except KeyboardInterrupt:
        print("stopping the formgrader...", flush=True)
    finally:
        stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
