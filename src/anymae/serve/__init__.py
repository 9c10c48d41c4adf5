"""`anymae serve`: a local web page to mask and reconstruct your own data (the `serve` extra: FastAPI,
uvicorn, python-multipart). `engine.py` computes, `app.py` is the web layer, `static/` the page."""
