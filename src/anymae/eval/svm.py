"""Point-MAE's probe classifier: a linear SVM on standardised features."""
from __future__ import annotations

import warnings

from .split import held_out_split


def linear_svm_probe(train_x, train_y, test_x, test_y, seed: int = 0) -> float:
    """Accuracy of a linear SVM on standardised features (Point-MAE's protocol); C picked on 20% of train."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    scaler = StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    val, fit = held_out_split(len(train_x), seed)
    best_c, best = 0.01, -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the largest C is expected and harmless here
        for c in (0.001, 0.01, 0.1):
            score = LinearSVC(C=c, max_iter=5000, random_state=seed).fit(train_x[fit], train_y[fit]).score(
                train_x[val], train_y[val])
            if score > best:
                best_c, best = c, score
        return float(LinearSVC(C=best_c, max_iter=5000, random_state=seed).fit(train_x, train_y).score(test_x, test_y))
