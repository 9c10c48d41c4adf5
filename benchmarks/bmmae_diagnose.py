"""Why does bmmae_tiny impute no better than the mean volume? (docs/volumes.md, BM-MAE). Trains bmmae_tiny on
phantom-mri in a plain loop (no augmentation) and prints, every few steps, the imputation MSE of flair from t1 and
t2 beside the mean volume and copying t2, and how much the imputed volume depends on the subject it is given
(swap: prediction for subject A with the present sequences of subject B vs A; 0 = reads nothing).
Usage: python benchmarks/bmmae_diagnose.py [steps] [key=value recipe args...]"""
import sys
import time

import torch

from anymae.data import load_dataset
from anymae.data.volume import volume_stats
from anymae.masking.modality import present_mask
from anymae.spec import ModelSpec, build_model

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
args = {"volume_size": 16, "patch_size": 4}
lr, batch, mstd = 1e-3, 32, None
for kv in sys.argv[2:]:
    k, v = kv.split("=")
    if k == "mstd":  # re-initialise both modality embeddings (encoder, decoder) at this std
        mstd = float(v)
    elif k == "lr":
        lr = float(v)
    elif k == "batch":
        batch = int(v)
    else:
        args[k] = type(args.get(k, 1.0))(v) if k in args else (float(v) if "." in v else int(v))
torch.manual_seed(0)
model = build_model(ModelSpec("bmmae_tiny", args), seed=0)
if mstd is not None:
    for position in (model.tokenizer.pos, model.decoder.pos):
        torch.nn.init.normal_(position.modality_embed, std=mstd)
size = model.tokenizer.image_size
train, test = (load_dataset("phantom-mri", split=s, image_size=size) for s in ("train", "test"))
mean, std = (torch.tensor(t).view(1, -1, 1, 1, 1) for t in volume_stats(train))


def stack(d):
    return (torch.stack([d.pixels(i) for i in range(len(d))]) - mean) / std


xtr, xte = stack(train), stack(test)
if xtr.shape[-1] != size[-1]:
    import torch.nn.functional as F
    xtr, xte = (F.interpolate(x, size=size, mode="trilinear", align_corners=False) for x in (xtr, xte))
M = 2  # flair
mean_vol = xtr[:, M].mean(0)


@torch.no_grad()
def impute(x, present=(0, 1)):
    model.eval()
    mask = present_mask(model.tokenizer.group, x.shape[0], list(present), [M])
    tokens, pred = model.predict_every_token(x, mask)
    model.train()
    return model.tokenizer.unpatchify(model.target.invert(pred, tokens.values))[:, M]


def report(step, loss):
    x = xte[:100]
    guess = impute(x)
    err = float(((guess - x[:, M]) ** 2).mean())
    swapped = x.clone()
    swapped[:, :M] = x.roll(1, 0)[:, :M]
    g2 = impute(swapped)
    reads = float(((g2 - guess) ** 2).mean() / ((x.roll(1, 0)[:, M] - x[:, M]) ** 2).mean())
    per_modality = float(((xtr.mean(0).mean(0) - x[:, M]) ** 2).mean())  # one volume for every sequence
    print(f"step {step:5d} loss {loss:.3f} | impute flair {err:.4f} mean {float(((mean_vol - x[:, M]) ** 2).mean()):.4f}"
          f" sequence-average {per_modality:.4f} copy t2 {float(((x[:, 1] - x[:, M]) ** 2).mean()):.4f} | swap sensitivity {reads:.2e}", flush=True)


opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
g = torch.Generator().manual_seed(0)
t0, run = time.time(), 0.0
for step in range(steps + 1):
    if step % max(steps // 6, 1) == 0:
        report(step, run)
    idx = torch.randint(0, len(xtr), (batch,), generator=g)
    out = model(xtr[idx], generator=g)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    run = 0.9 * run + 0.1 * float(out.loss.detach()) if step else float(out.loss.detach())
print(f"{time.time() - t0:.0f} s")
