"""Row 26 (How JEPA avoids noisy features): in deep linear models, a latent (JEPA, self-distillation)
target learns high-influence features (large regression coefficient rho) first, while a pixel (MAE)
target learns features in the order of their covariance lambda = rho * var(x), so a high-variance,
weakly predictive ("noisy") feature comes first.

    python benchmarks/jepa_linear.py

Two views x, y of d = 2 features: y_i = rho_i x_i + noise, var(x_i) = var(y_i) = s_i. Feature A is
noisy (s = 4, rho = 0.3, lambda = 1.2); feature B is predictive (s = 1, rho = 0.9, lambda = 0.9).
Encoder: a product of L square matrices from a small init; predictor V linear. Both objectives are
trained by gradient descent on their exact population losses:
    MAE   E || V W x - y ||^2                 (target in data space)
    JEPA  E || V W x - sg(W) y ||^2           (target in latent space, stop-gradient, no EMA)
We report the step at which the encoder has learned half of each feature (|(W)_{:,i}| reaches half its
final value) and which feature came first.
"""
from __future__ import annotations

import argparse

import torch


def covariances(s, rho):
    """-> Sxx, Sxy (E[x y^T]), Syy for y_i = rho_i x_i + noise with var(x_i) = var(y_i) = s_i."""
    s, rho = torch.tensor(s, dtype=torch.float64), torch.tensor(rho, dtype=torch.float64)
    return torch.diag(s), torch.diag(rho * s), torch.diag(s)


def population_loss(a, b, sxx, sxy, syy):
    """E || a x - b y ||^2 = tr(a Sxx a^T) - 2 tr(a Sxy b^T) + tr(b Syy b^T)."""
    return torch.trace(a @ sxx @ a.T) - 2 * torch.trace(a @ sxy @ b.T) + torch.trace(b @ syy @ b.T)


def train(kind: str, depth: int, s, rho, steps: int = 3000, lr: float = 0.01, init: float = 0.1, seed: int = 0):
    """-> per-step norms of the encoder's columns [steps, d] (how much of each feature it has learned)."""
    sxx, sxy, syy = covariances(s, rho)
    d = len(s)
    # balanced, aligned small init (the paper's setting: every factor init * identity), so that the
    # features' dynamics decouple; a tiny seeded perturbation breaks exact symmetry
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(d, dtype=torch.float64)
    factors = [(init * eye + 1e-4 * torch.randn(d, d, generator=g, dtype=torch.float64)).requires_grad_()
               for _ in range(depth)]
    v = (init * eye + 1e-4 * torch.randn(d, d, generator=g, dtype=torch.float64)).requires_grad_()
    history = []
    for _ in range(steps):
        w = factors[0]
        for f in factors[1:]:
            w = f @ w
        target = torch.eye(d, dtype=torch.float64) if kind == "mae" else w.detach()
        loss = population_loss(v @ w, target, sxx, sxy, syy)
        grads = torch.autograd.grad(loss, factors + [v])
        with torch.no_grad():
            for p, gr in zip(factors + [v], grads):
                p -= lr * gr
        history.append(w.detach().norm(dim=0))
    return torch.stack(history)


def learned_at(history: torch.Tensor) -> list[int | None]:
    """Step at which each feature's encoder column first grows halfway from its initial to its final norm;
    None when the column never grows to 1.5x its initial norm (the encoder does not pick the feature up)."""
    start, final = history[0], history[-1]
    out = []
    for i in range(history.shape[1]):
        if final[i] < 1.5 * start[i]:
            out.append(None)
            continue
        hit = (history[:, i] >= start[i] + 0.5 * (final[i] - start[i])).nonzero()
        out.append(int(hit[0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--depths", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--product", type=float, default=0.05,
                        help="initial scale of the whole map V W (each of the L+1 factors: product^(1/(L+1)))")
    args = parser.parse_args()
    s, rho = [4.0, 1.0], [0.3, 0.9]
    lines = ["| objective | encoder depth L | A noisy (lambda 1.2, rho 0.3) learned at step | "
             "B predictive (lambda 0.9, rho 0.9) learned at step | final |W e_A| / |W e_B| | learned first |",
             "|---|---|---|---|---|---|"]
    show = lambda t: "not learned" if t is None else str(t)
    for kind in ("mae", "jepa"):
        for depth in args.depths:
            h = train(kind, depth, s, rho, steps=args.steps, init=args.product ** (1.0 / (depth + 1)))
            ta, tb = learned_at(h)
            if ta is None and tb is None:
                first = "neither"
            elif tb is None or (ta is not None and ta < tb):
                first = "A (noisy)"
            else:
                first = "B (predictive)"
            lines.append(f"| {kind.upper()} | {depth} | {show(ta)} | {show(tb)} | "
                         f"{float(h[-1, 0] / h[-1, 1]):.2f} | {first} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
