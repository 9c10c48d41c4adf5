"""docs/text.md's MEAP table: MEAP against plain next-token prediction (NTP) at the same budget, on the
perplexity of held-out pydocs text and on key-information retrieval (eval/lm.py), beside the same LM at
random init.

    python benchmarks/meap_vs_ntp.py RUN_MEAP RUN_NTP [--trials 300] [--out docs/meap_vs_ntp.json]

The runs: `anymae pretrain --recipe meap_tiny --data pydocs --steps N --out RUN_MEAP` and the same with
`--recipe ntp_tiny` (same seed, same data order, same steps). Held-out text: the 700 pydocs docstrings whose
queries make `pydocs-retrieval` (never seen in pretraining).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("meap")
    parser.add_argument("ntp")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    import torch
    from anymae.data.pydocs import held_out_docs
    from anymae.data.text import encode_texts, load_tokenizer
    from anymae.eval.lm import LMResult, key_retrieval, key_retrieval_trials, lm_table, perplexity
    from anymae.io.checkpoint import build_untrained, load_run
    torch.set_grad_enabled(False)
    meap, meap_cfg = load_run(args.meap)
    ntp, ntp_cfg = load_run(args.ntp)
    tok = load_tokenizer(str(Path(args.meap) / "tokenizer.json"))
    if (Path(args.ntp) / "tokenizer.json").read_text() != (Path(args.meap) / "tokenizer.json").read_text():
        raise SystemExit("the two runs have different vocabularies: train them on the same data")
    texts = [d.text for d in held_out_docs()]
    max_len = meap.tokenizer.max_len
    ids, _ = encode_texts(tok, texts, max_len)
    trial_ids, keys, _ = key_retrieval_trials(tok, texts, max_len, trials=args.trials, seed=args.seed)
    rows = []
    for name, model in ((f"MEAP ({meap_cfg['recipe']}, mask {meap.masker.ratio})", meap),
                        (f"NTP ({ntp_cfg['recipe']})", ntp),
                        ("random init (same LM)", build_untrained(meap_cfg, seed=args.seed))):
        rows.append(LMResult(name, perplexity(model, ids), *key_retrieval(model, trial_ids, keys)))
    steps = (meap_cfg.get("summary") or {}).get("steps"), (ntp_cfg.get("summary") or {}).get("steps")
    title = (f"held-out pydocs: {len(texts)} documents for perplexity; {args.trials} key-retrieval trials of "
             f"{trial_ids.shape[1]} tokens (steps: MEAP {steps[0]}, NTP {steps[1]})")
    print(lm_table(rows, title))
    if args.out:
        Path(args.out).write_text(json.dumps({"title": title, "results": [r.__dict__ for r in rows]}, indent=2))


if __name__ == "__main__":
    main()
