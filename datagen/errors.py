"""One error family. The CLI turns these into one-line messages and exit codes."""


class DatagenError(Exception):
    """A user-facing error: the message is shown as one line, exit code `exit_code`."""

    exit_code = 2


class DataError(DatagenError):
    """Malformed input data. The message names the file, the line and the problem."""

    def __init__(self, path, line, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")


class ConfigError(DatagenError):
    """A bad configuration value or an unknown key."""


class LLMError(DatagenError):
    """An LLM call failed for good (auth, bad request, missing model, retries spent)."""


class LockHeldError(DatagenError):
    """Another run holds the dataset lock. Distinct exit code so schedulers can tell."""

    exit_code = 3
