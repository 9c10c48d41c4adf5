"""Why did bmmae_tiny impute no better than the mean volume? (docs/volumes.md, BM-MAE). Trains bmmae_tiny on
phantom-mri in a plain loop (no augmentation) and prints, every few steps, the imputation MSE of flair from t1 and
t2 beside the mean volume and copying t2, and the imputation's dependence on the present sequences
(`present_dependence`: 0 = it predicts one volume whatever it is given, ~1 = it follows the subject).
Usage: python benchmarks/bmmae_diagnose.py [steps] [key=value ...]: lr=, batch=, mstd= (re-initialise both
modality embeddings at that std), any bmmae_tiny argument (volume_size=16 patch_size=4 unless given; a cuboid
patch as patch_size=2,4,4)."""
import sys
import time

import torch

from anymae.data import load_dataset
from anymae.data.volume import volume_stats
from anymae.eval.impute_volume import impute_missing, present_dependence
from anymae.spec import ModelSpec, build_model

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
args = {"volume_size": 16, "patch_size": 4}
lr, batch, mstd = 1e-3, 32, None
for kv in sys.argv[2:]:
    k, v = kv.split("=")
    if k == "mstd":
        mstd = float(v)
    elif k == "lr":
        lr = float(v)
    elif k == "batch":
        batch = int(v)
    elif "," in v:  # a cuboid patch: patch_size=2,4,4
        args[k] = tuple(int(part) for part in v.split(","))
    else:
        args[k] = float(v) if "." in v or "e" in v else int(v)
torch.manual_seed(0)
model = build_model(ModelSpec("bmmae_tiny", args), seed=0)
if mstd is not None:
    for position in (model.tokenizer.pos, model.decoder.pos):
        torch.nn.init.normal_(position.modality_embed, std=mstd)
size = model.tokenizer.image_size
train, test = (load_dataset("phantom-mri", split=s, image_size=size) for s in ("train", "test"))
mean, std = (torch.tensor(t).view(1, -1, 1, 1, 1) for t in volume_stats(train))
xtr, xte = ((torch.stack([d.pixels(i) for i in range(len(d))]) - mean) / std for d in (train, test))
M = 2  # flair, from t1 and t2
mean_volume = xtr[:, M].mean(0)


def report(step, loss):
    model.eval()
    x = xte[:100]
    guess = impute_missing(model, x, [0, 1], M)
    moved, between = present_dependence(model, x, [0, 1], M, guess)
    model.train()
    mse = {"model": guess, "mean": mean_volume, "copy t2": x[:, 1]}
    mse = " ".join(f"{k} {float(((v - x[:, M]) ** 2).mean()):.4f}" for k, v in mse.items())
    print(f"step {step:5d} loss {loss:.3f} | impute flair MSE: {mse} | dependence {moved / between:.2e}", flush=True)


opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
g = torch.Generator().manual_seed(0)
t0, running = time.time(), 0.0
for step in range(steps + 1):
    if step % max(steps // 6, 1) == 0:
        report(step, running)
    out = model(xtr[torch.randint(0, len(xtr), (batch,), generator=g)], generator=g)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    running = 0.9 * running + 0.1 * float(out.loss.detach()) if step else float(out.loss.detach())
print(f"{time.time() - t0:.0f} s")
