"""Run the collector with the web pages for the browser tests, as ``python -m collector run`` does.

Kept so the tests do not depend on how ``collector.api.create_app`` mounts the pages: if it already
did (``app.state.web``), nothing is added here.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from collector import config, pages
from collector.api import create_app
from collector.runtime import Runtime


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config.load(args.config)
    runtime = Runtime(cfg)
    runtime.start()
    app = create_app(runtime)
    if getattr(app.state, "web", None) is None:
        pages.setup(app, runtime)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.http.host, port=cfg.http.port, log_config=None,
                                           access_log=False, timeout_graceful_shutdown=2))
    try:
        server.run()
    finally:
        runtime.stop()


if __name__ == "__main__":
    main()
