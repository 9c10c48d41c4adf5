"""`anymae serve [RUN ...]`: a local web page to mask and reconstruct your own data (docs/serve.md)."""
from __future__ import annotations

EPILOG = ("Binds 127.0.0.1 (this machine only) unless --host says otherwise. Needs the `serve` extra: "
          "pip install \"anymae[serve]\". API: GET /api/runs, GET /api/maskers, POST /api/reconstruct (docs/serve.md).")


def add(sub) -> None:
    p = sub.add_parser("serve", help="a local web page: choose a run, upload a file, mask and reconstruct it",
                       epilog=EPILOG,
                       description="Start a local web app: pick a run, upload an image (video, point cloud) or take "
                                   "a built-in sample, choose the masker, its arguments, the ratio and the seed, and "
                                   "see original | masked | prediction | prediction + visible | per-patch error. "
                                   "Also a mask gallery and each run's config, loss curve and probe table.")
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="run folders (or folders of run folders) to offer; default: every run folder in runs/")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to your network)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--max-upload-mb", type=float, default=None, help="largest upload accepted, in MB (default 10)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for the models (default: torch's)")
    p.set_defaults(handler=run_serve)


def run_serve(args) -> int:
    try:
        import uvicorn
        from ..serve.app import create_app
    except ImportError as err:
        raise ValueError(f"anymae serve needs the serve extra ({err.name} is missing): "
                         "pip install \"anymae[serve]\"") from None
    from ..serve.engine import MAX_UPLOAD_MB
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.threads is not None:
        import torch
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    app = create_app(args.runs, max_upload_mb=args.max_upload_mb or MAX_UPLOAD_MB)
    runs = app.state.runs.list()
    for run in runs:
        print(f"  run {run['id']}: {run['path']}" + (f" (does not load: {run['error']})" if run["error"] else ""))
    if not runs:
        print("  no run folders found (give RUN folders, or pretrain one into runs/)")
    if runs and not runs[0]["error"]:
        from ..serve.engine import ServeError
        try:
            app.state.runs.model(runs[0]["id"])  # the first page shows without waiting for a model to load
        except ServeError as err:
            print(f"  {err}")
    where = "this machine only" if args.host in ("127.0.0.1", "localhost", "::1") else \
        "every machine that can reach this one: anyone on the network can use it"
    print(f"serving http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/ "
          f"(bound to {args.host}: {where}); Ctrl-C stops it", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
