"""`anymae crossmodal RUN`: image <-> text retrieval of an image-text run (M3AE) against random init, a classical
pair and chance."""
from __future__ import annotations

EPILOG = "Every command writes what it makes into a run folder and prints its path."


def add(sub) -> None:
    p = sub.add_parser("crossmodal", help="image->text and text->image retrieval R@1 / R@5 of an image-text run",
                       epilog=EPILOG,
                       description="Each test image and each test caption alone through the run's one encoder, "
                                   "its tokens' features mean-pooled, cosine similarity: R@1 and R@5 in both "
                                   "directions, beside the same architecture at random init, HOG + TF-IDF joined "
                                   "by CCA on the training pairs, and chance. Writes RUN/crossmodal.json.")
    p.add_argument("run", help="run folder of an image-text recipe (m3ae_tiny)")
    p.add_argument("--data", help="image-caption pairs with train and test splits (default: the run's, "
                                  "e.g. shapes-captions)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random-init baseline")
    p.set_defaults(handler=run_crossmodal)


def run_crossmodal(args) -> int:
    from ..eval.crossmodal import crossmodal_run
    _, table = crossmodal_run(args.run, data=args.data, seed=args.seed)
    print(table)
    print(f"run folder: {args.run} (crossmodal.json)")
    return 0
