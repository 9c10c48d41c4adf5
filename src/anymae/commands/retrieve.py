"""`anymae retrieve RUN`: BEIR-style retrieval of a text run's encoder against random init and BM25."""
from __future__ import annotations

EPILOG = "Every command writes what it makes into a run folder and prints its path."


def add(sub) -> None:
    p = sub.add_parser("retrieve", help="nDCG@10 / MRR@10 / Recall@100 of a text encoder vs random init and BM25",
                       epilog=EPILOG,
                       description="Dense retrieval with the run's representation (RetroMAE: [CLS]; DupMAE: [CLS] "
                                   "joined with the reduced bag-of-words vector), dot product, against the same "
                                   "architecture at random init and BM25 (bm25s). Writes RUN/retrieve.json.")
    p.add_argument("run", help="run folder of a text recipe (retromae_tiny, dupmae_tiny, ...)")
    p.add_argument("--data", help="built-in retrieval set (default pydocs-retrieval)")
    p.add_argument("--beir", metavar="PATH", help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    p.add_argument("--seed", type=int, default=0, help="seed of the random-init baseline")
    p.set_defaults(handler=run_retrieve)


def run_retrieve(args) -> int:
    from ..eval.retrieval import retrieve_run
    _, table = retrieve_run(args.run, data=args.data, beir=args.beir, seed=args.seed)
    print(table)
    print(f"run folder: {args.run} (retrieve.json)")
    return 0
