"""`aupgate serve`: run the gateway (and, with no upstream configured, the embedded model)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path
from typing import Any

import typer

from aupgate.cli._output import err_console, runtime
from aupgate.config import load_settings
from aupgate.gateway.upstream_process import upstream_url


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help="aupgate.toml with settings."),
    host: str | None = typer.Option(None, "--host", help="Listen address (default: settings)."),
    port: int | None = typer.Option(None, "--port", help="Listen port (default: settings)."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
) -> None:
    """Run the OpenAI-compatible enforcement gateway until interrupted."""
    import uvicorn

    from aupgate.gateway import logs
    from aupgate.gateway.app import create_app
    from aupgate.runtime import Runtime

    base = runtime(ctx).settings
    settings = load_settings(home=base.home, config=config) if config else base
    overrides = {"host": host, "port": port, "workers": workers}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    logs.configure()
    options = {
        "host": settings.host,
        "port": settings.port,
        "access_log": False,  # the gateway logs each request itself, without secrets
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s),
    }
    # uvicorn re-raises SIGTERM once it has shut down; exit cleanly instead, so that the
    # embedded model server is stopped by the context below rather than left to die alone.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # Open the store and the pack, and record the active pack, once and before any worker
    # starts: a broken pack or store stops here with its error instead of in every worker.
    checked = Runtime(settings)
    try:
        _ = checked.pipeline
    finally:
        checked.close()
    with upstream_url(settings, err_console.print) as url:
        if settings.workers == 1:
            app = create_app(Runtime(settings), upstream_url=url, owns_runtime=True)
            uvicorn.run(app, **options)  # type: ignore[arg-type]
            return
        # Worker processes build their own settings from AUPGATE_* and the config file, so
        # pass on what was given on this command line.
        os.environ["AUPGATE_UPSTREAM_URL"] = url
        os.environ["AUPGATE_HOME"] = str(settings.home)
        if config:
            os.environ["AUPGATE_CONFIG"] = str(config)
        run_workers("aupgate.gateway.app:app_from_environment", settings.workers, **options)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_workers(factory: str, workers: int, **options: Any) -> None:
    """Run `workers` uvicorn processes of the app that `factory` ("module:function") builds."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    sock = config.bind_socket()
    # asyncio sets TCP_NODELAY only on sockets created with proto IPPROTO_TCP, which this one
    # is not; without it every response written in two parts waits ~40 ms for a delayed ACK.
    # Accepted connections inherit the option from the listening socket.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()
