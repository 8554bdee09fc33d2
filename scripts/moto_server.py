"""Runs moto's server single-threaded and prints the address it listens on.

Threaded moto loses concurrent DynamoDB ADD updates (5 in 32,000 in our runs), so requests are served one at a
time. The port may be 0: the OS picks a free one, and the first line on stdout says which
(`READY http://127.0.0.1:PORT`), so a test harness never races for a port. With --parent-pid the
server exits when that process is gone, so a killed test run leaves no server behind.
"""

import argparse
import logging
import os
import sys
import threading
import time

from werkzeug.serving import make_server

from cbor_shim import CborShim, percentiles

from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def watch_parent(pid: int) -> None:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args()

    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    percentiles()
    app = CborShim(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host, args.port, app, threaded=False, request_handler=MotoRequestHandler
    )
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)
    # Lambda functions must be created with Docker off; turned off later, moto hides them.
    moto_api_backend.set_config({"lambda": {"use_docker": False}})

    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()

    print(f"READY http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
