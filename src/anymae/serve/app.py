"""The web layer of `anymae serve` (FastAPI): the page, its local assets and a small JSON API.

    GET  /                      the page (static/index.html; every asset served from static/, no CDN)
    GET  /api/runs              the run folders offered: id, path, recipe, modality, data, steps, error
    GET  /api/runs/{id}         the run tab: config, loss curve (metrics.csv), probe table (probe.json)
    GET  /api/maskers           every registered masker with its arguments
    POST /api/reconstruct       multipart: file (optional), run, masker, ratio, seed, masker_args, sample,
                                hide, format=json|png -> the panels and per-patch errors (or one PNG)
    GET  /api/masks             a mask gallery PNG (`anymae masks`): masker, ratio, seed, samples
    POST /api/generate          JSON or form: run, class, steps, sampler, temperature, guidance, seed, count,
                                format=json|png -> a PNG grid of samples of a generator run (or one PNG)

Bad input answers 4xx with {"error": message}; an unexpected failure answers 500 with its one line, and
the server keeps serving.
"""
from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .engine import MAX_UPLOAD_MB, Runs, ServeError, find_runs, masker_catalogue, parse_masker_args, reconstruct

STATIC = Path(__file__).parent / "static"
FORM_MARGIN = 2**20  # bytes a multipart form may add around the file (field names, settings, boundaries)


def create_app(runs: list[str | Path] | None = None, max_upload_mb: float = MAX_UPLOAD_MB, root: str | Path = "runs"):
    """The app serving run folders `runs` (none: those inside `root`), uploads up to `max_upload_mb` MB."""
    if not max_upload_mb > 0:
        raise ValueError(f"--max-upload-mb must be > 0, got {max_upload_mb}")
    app = FastAPI(title="anymae serve", docs_url=None, redoc_url=None, openapi_url=None)
    state = Runs(find_runs(runs, root))
    max_bytes = int(max_upload_mb * 2**20)
    app.state.runs = state
    app.state.max_bytes = max_bytes

    @app.exception_handler(ServeError)
    async def refused(request: Request, err: ServeError):
        return JSONResponse({"error": str(err)}, status_code=err.status)

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception):  # the server keeps serving; the page shows the line
        return JSONResponse({"error": f"{type(err).__name__}: {err}"}, status_code=500)

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next):
        """A body far above the upload limit is refused from its Content-Length, before it is read."""
        length = request.headers.get("content-length", "")
        if request.method == "POST" and length.isdigit() and int(length) > max_bytes + FORM_MARGIN:
            return JSONResponse({"error": f"the request ({int(length) / 2**20:.1f} MB) is above the upload limit "
                                          f"of {max_bytes / 2**20:g} MB (anymae serve --max-upload-mb)"}, status_code=413)
        return await call_next(request)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/runs")
    def list_runs():
        return {"runs": state.list(), "max_upload_mb": max_bytes / 2**20}

    @app.get("/api/runs/{run_id}")
    def run_info(run_id: str):
        return state.info(run_id)

    @app.get("/api/maskers")
    def maskers():
        return {"maskers": masker_catalogue()}

    @app.post("/api/reconstruct")
    def reconstruct_request(file: UploadFile | None = File(None), run: str | None = Form(None),
                            masker: str | None = Form(None), ratio: str = Form("0.75"), seed: str = Form("0"),
                            masker_args: str | None = Form(None), sample: str | None = Form(None),
                            hide: str | None = Form(None), format: str = Form("json")):
        if format not in ("json", "png"):
            raise ServeError(400, f"format must be json or png, got {format!r}")
        upload = None
        if file is not None and (file.filename or file.size):
            data = file.file.read(max_bytes + 1)  # never reads more than one byte past the limit
            upload = (data, file.filename or "upload")
        out = reconstruct(state, run, masker or None, number(ratio, "ratio", float), number(seed, "seed", int),
                          parse_masker_args(masker_args), upload,
                          None if sample in (None, "") else number(sample, "sample", int),
                          [h.strip() for h in (hide or "").split(",") if h.strip()], max_bytes)
        picture = out.pop("picture", None)
        if format == "png":
            return Response(picture, media_type="image/png")
        if picture is not None:
            out["picture"] = "data:image/png;base64," + base64.b64encode(picture).decode()
        return out

    @app.post("/api/generate")
    async def generate_request(request: Request):
        from starlette.concurrency import run_in_threadpool
        from .generation import generate
        settings = await request_settings(request)
        fmt = settings.pop("format", "json")
        if fmt not in ("json", "png"):
            raise ServeError(400, f"format must be json or png, got {fmt!r}")
        unknown = sorted(set(settings) - GENERATE_FIELDS.keys())
        if unknown:
            raise ServeError(400, f"unknown setting {', '.join(unknown)}; known: {', '.join(GENERATE_FIELDS)}, format")
        kwargs = {}
        for name, kind in GENERATE_FIELDS.items():
            value = settings.get(name)
            if value in (None, "") or (name == "class" and value == "all"):
                continue
            kwargs[{"class": "klass", "run": "run_id"}.get(name, name)] = \
                value if kind is str or not isinstance(value, str) else number(value, name, kind)
        out = await run_in_threadpool(generate, state, **kwargs)
        picture = out.pop("picture")
        if fmt == "png":
            return Response(picture, media_type="image/png")
        out["picture"] = "data:image/png;base64," + base64.b64encode(picture).decode()
        return out

    @app.get("/api/masks")
    def masks(masker: str = "random", ratio: str | None = None, seed: str = "0", samples: str = "4",
              masker_args: str | None = None):
        from ..masking import MASKERS
        from ..viz.masks import draw_gallery, gallery_rows, shapes_image
        names = sorted(MASKERS) if masker == "all" else [m.strip() for m in masker.split(",") if m.strip()]
        unknown = [m for m in names if m not in MASKERS]
        if unknown or not names:
            raise ServeError(400, f"unknown masker {', '.join(unknown) or masker!r}; known: {', '.join(sorted(MASKERS))}")
        count = number(samples, "samples", int)
        if not 1 <= count <= 8:
            raise ServeError(422, f"samples must be in 1..8, got {count}")
        r = None if ratio in (None, "") else number(ratio, "ratio", float)
        if r is not None and not 0 < r < 1:
            raise ServeError(422, f"ratio must be a number strictly between 0 and 1, got {ratio}")
        try:
            rows = gallery_rows(names, shapes_image(224), r, count, (14, 14), number(seed, "seed", int),
                                parse_masker_args(masker_args), spectrum_draws=128, progress=False)
        except (ValueError, TypeError) as err:
            raise ServeError(400, str(err)) from None
        with tempfile.TemporaryDirectory(prefix="anymae-serve-") as tmp:
            data = draw_gallery(rows, Path(tmp) / "masks.png", shapes_image(224), cell=120).read_bytes()
        return Response(data, media_type="image/png")

    return app


GENERATE_FIELDS = {"run": str, "class": int, "steps": int, "sampler": str, "temperature": float, "guidance": float,
                   "seed": int, "count": int}


async def request_settings(request: Request) -> dict:
    """The settings of a JSON body (an object) or of a form."""
    if "json" in request.headers.get("content-type", ""):
        try:
            settings = await request.json()
        except ValueError as err:
            raise ServeError(400, f"the body is not valid JSON ({err})") from None
        if not isinstance(settings, dict):
            raise ServeError(400, "the JSON body must be an object of setting: value")
        return dict(settings)
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def number(text, name: str, kind: type):
    """A form field -> int/float, or a 422 naming the field."""
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ServeError(422, f"{name} must be a {'whole number' if kind is int else 'number'}, got {text!r}") from None
    return value
