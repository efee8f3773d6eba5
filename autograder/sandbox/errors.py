"""The one error of the sandbox package."""


class SandboxError(RuntimeError):
    """The sandbox could not be set up. A problem of the grading machine, never of the student."""
