"""Numerical check of ENCORE's Theorem 1: maximum-entropy rules get vanishing BT weight.

Run ``encore-jax theory bt-gradients`` or ``python -m encore_jax.theory.bt_gradients [--out DIR]
[--quick]``; it writes ``report.json`` and ``bt_gradients.png`` to ``DIR`` (default
``./encore-jax-theory/bt-gradients/``; an existing report is kept unless ``--force``). The
statement, assumptions and argument are in ``encore_jax/theory/THEORY.md`` ("ENCORE Theorem 1").

Setting. A simulated ensemble (:func:`encore_jax.simulate_rule_ensemble`, ``L = 5`` levels)
mixes three informative low-entropy rules, three maximum-entropy noise rules (i.i.d. uniform
ratings, independent of the preference: the theorem's rules) and two counterexamples to the
entropy heuristic: a high-entropy rule that is informative (spread ratings that track
quality) and a low-entropy rule that is pure noise. The simulator's rules follow a
well-specified Bradley–Terry model whose population weights are exactly the
``informativeness`` parameters, so every fitted weight has a known target.

For each ``N`` in a sweep and each seed the check simulates ``N`` pairs, computes the BT
gradient at ``w = 0`` and fits the free BT weights (``encore_jax.fit_bt_weights``, L-BFGS,
the MLE; vmapped over seeds, and over the sizes that share a padded shape through masks),
with sandwich (CLT) standard errors. Reported, per rule: population entropy and accuracy,
the median over seeds of ``|grad_k(0)|`` and ``|w_k|`` at every ``N``, and the least-squares
slope of ``log median |.|`` against ``log N`` with an interval of ``SLOPE_NUM_SE`` standard
errors predicted before looking at the data (``slope_tolerance``). ``holds`` is what
Theorem 1 predicts (see :func:`run`); numbers the rule table fixes by construction (the
Spearman correlation of entropy with ``|w|``, the counterexample table against ENCORE's
``softmax(-H / 2)``) are under ``descriptive``.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax.bradley_terry import bt_gradient, fit_bt_weights
from encore_jax.entropy import rating_entropy
from encore_jax.simulate import simulate_rule_ensemble
from encore_jax.theory._report import check_out_dir, default_out_dir, save_report
from encore_jax.weights import entropy_weights

CHECK_NAME = "bt-gradients"
FIGURE_NAME = "bt_gradients.png"
DEFAULT_SIZES = (1_000, 3_162, 10_000, 31_623, 100_000, 316_228, 1_000_000)
QUICK_SIZES = (1_000, 3_162, 10_000, 31_623, 100_000)
DEFAULT_SEEDS = 16
QUICK_SEEDS = 32
NUM_LEVELS = 5
ENCORE_TEMPERATURE = 2.0
# The library's fitter (encore_jax.fit_bt_weights, L-BFGS) until max |grad| <= GRAD_TOL.
MAX_STEPS = 200
# A weight error of about GRAD_TOL / curvature (curvature ~ 0.1 here) = 2e-5, 1% of the noise
# weights' standard error at N = 1e6 (~2e-3): it moves no slope visibly. Tighter tolerances
# run into the float32 rounding of a mean over 1e6 pairs.
GRAD_TOL = 2e-6
# Two-sided normal quantile for the CLT lower bounds on informative weights (5 SE: 5.7e-7).
Z_SCORE = 5.0
# Slope intervals are this many predicted standard errors wide on each side (see
# slope_tolerance): P(|N(0,1)| > 4) = 6.3e-5 per slope.
SLOPE_NUM_SE = 4.0
# Sizes and seeds of one vmapped batch: at most this many pairs in memory at once.
_MAX_BATCH_PAIRS = 4_000_000
# Median of |Z| for Z ~ N(0, 1) and the half-normal density there.
_HALF_NORMAL_MEDIAN = 0.6744897501960817
_HALF_NORMAL_DENSITY_AT_MEDIAN = 2 * math.exp(-0.5 * _HALF_NORMAL_MEDIAN**2) / math.sqrt(
    2 * math.pi
)

# name, group, informativeness beta (= population BT weight), spread s
RULES: tuple[tuple[str, str, float, float], ...] = (
    ("informative-sharp", "informative", 3.0, 0.5),
    ("informative-medium", "informative", 2.0, 0.8),
    ("informative-broad", "informative", 1.2, 1.2),
    ("noise-1", "max-entropy noise", 0.0, math.inf),
    ("noise-2", "max-entropy noise", 0.0, math.inf),
    ("noise-3", "max-entropy noise", 0.0, math.inf),
    ("spread-but-informative", "counterexample: high entropy, informative", 1.0, math.inf),
    ("narrow-noise", "counterexample: low entropy, uninformative", 0.0, 0.6),
)


def _parameters() -> tuple[np.ndarray, np.ndarray]:
    beta = np.array([r[2] for r in RULES], np.float32)
    spread = np.array([r[3] for r in RULES], np.float32)
    return beta, spread


def _sandwich_standard_errors(
    diffs: jax.Array, weights: jax.Array, mask: jax.Array
) -> jax.Array:
    """CLT standard errors of the BT MLE, ``sqrt(diag(H^-1 S H^-1) / n)`` over masked pairs."""
    margins = diffs @ weights
    included = mask.astype(diffs.dtype)
    n = jnp.sum(included)
    curvature = jax.nn.sigmoid(margins) * jax.nn.sigmoid(-margins) * included
    hessian = (diffs * curvature[:, None]).T @ diffs / n
    score = diffs * (jax.nn.sigmoid(-margins) * included)[:, None]
    meat = score.T @ score / n
    inverse = jnp.linalg.inv(hessian)
    return jnp.sqrt(jnp.diag(inverse @ meat @ inverse) / n)


# Sizes up to this many pairs share one padded shape (masks select each size's pairs), so
# they are fitted in one vmapped, compiled program: compiling the fit loop dominates the run
# time at small N, the arithmetic at large N.
_MIN_PADDED = 32_768


def _one_fit(key: jax.Array, num_pairs: jax.Array, padded: int) -> dict[str, jax.Array]:
    """One simulated sample of ``num_pairs`` pairs (the first ``num_pairs`` of ``padded``
    i.i.d. pairs): gradient at 0, the fitted free weights and their sandwich SEs."""
    beta, spread = _parameters()
    ens = simulate_rule_ensemble(key, padded, informativeness=beta, spread=spread,
                                 num_levels=NUM_LEVELS)
    mask = jnp.arange(padded) < num_pairs
    diffs = (ens.chosen - ens.rejected).astype(jnp.float32)
    grad0 = bt_gradient(jnp.zeros(len(RULES), jnp.float32), diffs, mask=mask)
    fit = fit_bt_weights(diffs, optimizer="lbfgs", max_steps=MAX_STEPS, tol=GRAD_TOL,
                         record_every=MAX_STEPS, mask=mask)
    pooled = jnp.concatenate([ens.ratings_a, ens.ratings_b])
    pooled_mask = jnp.broadcast_to(jnp.concatenate([mask, mask])[:, None], pooled.shape)
    return {
        "grad0": grad0,
        "weights": fit.weights,
        "converged": fit.converged,
        "grad_norm": fit.grad_norm,
        "steps": fit.steps_taken,
        "standard_errors": _sandwich_standard_errors(diffs, fit.weights, mask),
        "sample_entropy": rating_entropy(pooled, NUM_LEVELS, mask=pooled_mask),
    }


@functools.partial(jax.jit, static_argnames=("padded", "batch_size"))
def _batched_fits(
    keys: jax.Array, num_pairs: jax.Array, padded: int, batch_size: int
) -> dict[str, jax.Array]:
    """:func:`_one_fit` for every ``(keys[b], num_pairs[b])``: vmapped in batches of
    ``batch_size`` (``lax.map``), so that memory stays at ``batch_size * padded`` pairs."""
    return jax.lax.map(lambda args: _one_fit(args[0], args[1], padded), (keys, num_pairs),
                       batch_size=batch_size)


def _fit_all(sizes: Sequence[int], num_seeds: int, seed: int) -> dict[str, np.ndarray]:
    """Every size and seed, ``[num_sizes, num_seeds, ...]`` arrays. Sizes sharing a padded
    shape go through one vmapped call; the keys depend only on ``(seed, N, seed index)``."""
    smallest_padding = min(_MIN_PADDED, sizes[-1])
    padded_of = [max(n, smallest_padding) for n in sizes]
    results: dict[int, dict[str, np.ndarray]] = {}
    for padded in sorted(set(padded_of)):
        group = [i for i, p in enumerate(padded_of) if p == padded]
        keys = jnp.concatenate([
            jax.random.split(jax.random.fold_in(jax.random.key(seed), sizes[i]), num_seeds)
            for i in group])
        num_pairs = jnp.repeat(jnp.asarray([sizes[i] for i in group], jnp.int32), num_seeds)
        batch = max(1, min(len(group) * num_seeds, _MAX_BATCH_PAIRS // padded))
        out = _batched_fits(keys, num_pairs, padded, batch)
        for j, i in enumerate(group):
            results[i] = {name: np.asarray(value)[j * num_seeds:(j + 1) * num_seeds]
                          for name, value in out.items()}
    return {name: np.stack([results[i][name] for i in range(len(sizes))])
            for name in results[0]}


def slope_tolerance(
    sizes: Sequence[int], samples_per_size: int, num_se: float = SLOPE_NUM_SE
) -> float:
    """``num_se`` predicted standard errors of the least-squares slope of ``log median |X|``.

    For an uninformative rule, ``sqrt(N) X`` is asymptotically ``N(0, sigma^2)`` (CLT), so
    ``|X|`` is half-normal. The median of ``n`` half-normal draws has standard deviation
    ``sigma / (2 f(m) sqrt(n))`` (``m`` its median, ``f`` its density there), hence its log has
    standard deviation ``1 / (2 f(m) m sqrt(n)) = 1.166 / sqrt(n)``. A least-squares slope on
    points ``x = log N`` with independent noise of that size has standard error
    ``sd / sqrt(sum (x - mean x)^2)``.
    """
    x = np.log(np.asarray(sizes, np.float64))
    sd_log_median = 1 / (
        2 * _HALF_NORMAL_DENSITY_AT_MEDIAN * _HALF_NORMAL_MEDIAN * math.sqrt(samples_per_size)
    )
    return float(num_se * sd_log_median / math.sqrt(np.sum((x - x.mean()) ** 2)))


def _slope(sizes: Sequence[int], values: np.ndarray) -> dict[str, float]:
    """Least-squares slope of ``log values`` on ``log sizes`` and its residual-based SE."""
    x, y = np.log(np.asarray(sizes, np.float64)), np.log(values)
    design = np.c_[np.ones_like(x), x]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    dof = max(len(x) - 2, 1)
    se = math.sqrt(residual @ residual / dof / np.sum((x - x.mean()) ** 2))
    return {"slope": float(coef[1]), "residual_se": se}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    import scipy.stats

    return float(scipy.stats.spearmanr(a, b).statistic)


def _slope_interval(
    sizes: Sequence[int], values: np.ndarray, tolerance: float
) -> dict[str, Any]:
    """The fitted slope, its interval ``slope +/- tolerance`` and the two conditions Theorem 1
    predicts for an uninformative rule: the interval contains -1/2 and excludes 0."""
    fit = _slope(sizes, values)
    low, high = fit["slope"] - tolerance, fit["slope"] + tolerance
    return {**fit, "low": low, "high": high, "contains_minus_half": bool(low <= -0.5 <= high),
            "excludes_zero": bool(high < 0)}


def _shrinks_like_root_n(interval: dict[str, Any]) -> bool:
    return interval["contains_minus_half"] and interval["excludes_zero"]


def run(
    out_dir: str | Path | None = None,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    num_seeds: int = DEFAULT_SEEDS,
    seed: int = 0,
    figure: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Runs the check and writes ``report.json`` (and the figure) to ``out_dir`` (default
    ``./encore-jax-theory/bt-gradients/``); an existing report is overwritten only with
    ``force``.

    ``report["holds"]`` is what Theorem 1 (THEORY.md) predicts, and nothing the rule table
    guarantees by construction:

    1. every fit converged (``max |grad| <= GRAD_TOL`` within ``MAX_STEPS``);
    2. for every uninformative rule (``informativeness = 0``: independent of the preference and
       symmetric, the theorem's assumptions; the three maximum-entropy rules and
       ``narrow-noise``), and for the three maximum-entropy rules pooled, the log-log slope of
       the median ``|grad_k(0)|`` and of the median fitted ``|w_k|`` against ``N`` has an
       interval ``slope +/- SLOPE_NUM_SE`` predicted SEs (:func:`slope_tolerance`) that
       contains -1/2 and excludes 0;
    3. every informative rule's weight is bounded away from 0: the median over seeds of the
       CLT lower bound ``w_k - Z_SCORE SE_k`` is positive at every ``N``.

    Everything else (Spearman of entropy against ``|w|``, which the rule table fixes by
    choosing spreads that grow as informativeness falls; the counterexample table; slopes of
    the informative rules) is reported under ``descriptive``.
    """
    out_dir = check_out_dir(default_out_dir(CHECK_NAME) if out_dir is None else out_dir,
                            force=force)
    start = time.perf_counter()
    sizes = sorted(int(n) for n in sizes)
    if len(sizes) < 3:
        raise ValueError(f"need at least 3 sizes to fit a slope, got {sizes}")
    beta, spread = _parameters()
    probe = simulate_rule_ensemble(jax.random.key(0), 1, informativeness=beta, spread=spread,
                                   num_levels=NUM_LEVELS)
    entropy = np.asarray(probe.entropy, np.float64)
    accuracy = np.asarray(probe.accuracy, np.float64)

    stack = _fit_all(sizes, num_seeds, seed)  # [num_sizes, num_seeds, ...]
    weights = stack["weights"].astype(np.float64)
    median_abs_w = np.median(np.abs(weights), axis=1)
    median_abs_g = np.median(np.abs(stack["grad0"].astype(np.float64)), axis=1)
    max_entropy_noise = np.array([r[1] == "max-entropy noise" for r in RULES])
    tol_rule = slope_tolerance(sizes, num_seeds)
    tol_pooled = slope_tolerance(sizes, num_seeds * int(max_entropy_noise.sum()))

    rules = []
    for k, (name, group, b, s) in enumerate(RULES):
        rule: dict[str, Any] = {
            "name": name, "group": group, "informativeness": float(b),
            "spread": "inf" if math.isinf(s) else s,
            "population_bt_weight": float(b),
            "entropy": float(entropy[k]), "accuracy": float(accuracy[k]),
            "sample_entropy_at_largest_n": float(np.mean(stack["sample_entropy"][-1, :, k])),
            "median_abs_grad0": median_abs_g[:, k].tolist(),
            "median_abs_weight": median_abs_w[:, k].tolist(),
            "median_weight": np.median(weights[:, :, k], axis=1).tolist(),
            "median_standard_error": np.median(stack["standard_errors"][:, :, k],
                                               axis=1).tolist(),
            "weight_slope": _slope_interval(sizes, median_abs_w[:, k], tol_rule),
            "grad0_slope": _slope_interval(sizes, median_abs_g[:, k], tol_rule),
        }
        if b > 0:
            # CLT lower confidence bound, median over seeds, at each N.
            lower_per_seed = weights[:, :, k] - Z_SCORE * stack["standard_errors"][:, :, k]
            lower = np.median(lower_per_seed, axis=1)
            rule["median_lower_bound_5se"] = lower.tolist()
            rule["bounded_away_from_zero"] = bool(np.all(lower > 0))
        else:
            rule["shrinks_like_root_n"] = bool(_shrinks_like_root_n(rule["weight_slope"])
                                               and _shrinks_like_root_n(rule["grad0_slope"]))
        rules.append(rule)

    # Pooled over the three identical max-entropy noise rules (median over seeds x rules).
    def pooled_median(values: np.ndarray) -> np.ndarray:
        return np.median(np.abs(values[:, :, max_entropy_noise]).reshape(len(sizes), -1),
                         axis=1)

    pooled_w = pooled_median(weights)
    pooled_g = pooled_median(stack["grad0"].astype(np.float64))
    pooled = {
        "rules": [r[0] for r, m in zip(RULES, max_entropy_noise, strict=True) if m],
        "median_abs_weight": pooled_w.tolist(),
        "median_abs_grad0": pooled_g.tolist(),
        "weight_slope": _slope_interval(sizes, pooled_w, tol_pooled),
        "grad0_slope": _slope_interval(sizes, pooled_g, tol_pooled),
        "tolerance": tol_pooled,
    }
    pooled["shrinks_like_root_n"] = bool(_shrinks_like_root_n(pooled["weight_slope"])
                                         and _shrinks_like_root_n(pooled["grad0_slope"]))

    convergence = {
        "fits": int(stack["converged"].size),
        "converged": int(np.sum(stack["converged"])),
        "max_grad_norm": float(np.max(stack["grad_norm"])),
        "max_steps_taken": int(np.max(stack["steps"])),
    }
    holds_parts = {
        "every_fit_converged": convergence["converged"] == convergence["fits"],
        "uninformative_rules_shrink_like_root_n": all(
            r["shrinks_like_root_n"] for r in rules if "shrinks_like_root_n" in r),
        "max_entropy_noise_pooled_shrinks_like_root_n": pooled["shrinks_like_root_n"],
        "informative_weights_bounded_away_from_zero": all(
            r["bounded_away_from_zero"] for r in rules if "bounded_away_from_zero" in r),
    }
    report = {
        "check": "bt_gradients",
        "statement": "encore_jax/theory/THEORY.md#encore-theorem-1-maximum-entropy-rules-get-"
                     "near-zero-bradleyterry-weight",
        "setup": {
            "num_levels": NUM_LEVELS, "sizes": sizes, "num_seeds": num_seeds, "seed": seed,
            "optimizer": f"encore_jax.fit_bt_weights(optimizer='lbfgs'), free MLE from w = 0, "
                         f"until max |grad| <= {GRAD_TOL} (at most {MAX_STEPS} steps), "
                         "vmapped over sizes and seeds",
            "slope_fit": "least squares of log(median over seeds of |.|) on log N",
            "slope_interval": f"slope +/- {SLOPE_NUM_SE:g} predicted SE of the slope "
                              "(half-normal median, see slope_tolerance)",
            "informative_lower_bound": f"median over seeds of w_k - {Z_SCORE:g} sandwich SE",
            "encore_temperature": ENCORE_TEMPERATURE,
        },
        "holds_rule": "every fit converged; for each uninformative rule and for the pooled "
                      "max-entropy rules, the slope intervals of log |grad(0)| and log |w| on "
                      "log N contain -1/2 and exclude 0; each informative rule's median 5-SE "
                      "lower bound is > 0 at every N",
        "holds_parts": holds_parts,
        "holds": bool(all(holds_parts.values())),
        "convergence": convergence,
        "rules": rules,
        "max_entropy_noise_pooled": pooled,
        "per_rule_tolerance": tol_rule,
        "descriptive": _descriptive(entropy, accuracy, beta, weights),
    }
    return save_report(report, out_dir, started=start, figure_path_name=FIGURE_NAME,
                       write_figure=write_figure if figure else None)


def _descriptive(
    entropy: np.ndarray, accuracy: np.ndarray, beta: np.ndarray, weights: np.ndarray
) -> dict[str, Any]:
    """Numbers the rule table decides by construction (not part of ``holds``): the Spearman
    of entropy against the fitted ``|w|`` (the table's spreads grow as informativeness falls),
    ENCORE's weights, and the counterexample rules' BT and ENCORE weights and ranks."""
    fitted = np.median(np.abs(weights[-1]), axis=0)  # largest N, median over seeds
    counterexample = np.array(["counterexample" in r[1] for r in RULES])
    theorem_set = ~counterexample
    encore = np.asarray(entropy_weights(jnp.asarray(entropy, jnp.float32), ENCORE_TEMPERATURE),
                        np.float64)
    bt_share = fitted / fitted.sum()
    counter = {}
    for k, (name, group, _, _) in enumerate(RULES):
        if counterexample[k]:
            counter[name] = {
                "group": group,
                "entropy": float(entropy[k]), "max_entropy": math.log(NUM_LEVELS),
                "accuracy": float(accuracy[k]),
                "bt_weight": float(fitted[k]), "bt_weight_share": float(bt_share[k]),
                "encore_weight": float(encore[k]),
                "encore_rank": int(np.argsort(-encore, kind="stable").tolist().index(k)) + 1,
                "bt_rank": int(np.argsort(-fitted, kind="stable").tolist().index(k)) + 1,
            }
    return {
        "note": "decided by the rule table (spreads chosen to grow as informativeness "
                "falls), so not evidence for the theorem; not part of holds",
        "spearman_entropy_vs_abs_weight": {
            "theorem_rules": _spearman(entropy[theorem_set], fitted[theorem_set]),
            "all_rules": _spearman(entropy, fitted),
        },
        "encore_weights": encore.tolist(),
        "counterexamples": counter,
    }


def write_figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = np.asarray(report["setup"]["sizes"], np.float64)
    colors = {"informative": "tab:blue", "max-entropy noise": "tab:gray",
              "counterexample: high entropy, informative": "tab:red",
              "counterexample: low entropy, uninformative": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    for ax, key, title in (
        (axes[0], "median_abs_weight", "fitted |w_k| (median over seeds)"),
        (axes[1], "median_abs_grad0", "|dL/dw_k| at w = 0 (median over seeds)"),
    ):
        for rule in report["rules"]:
            ax.loglog(sizes, rule[key], "o-", color=colors[rule["group"]], ms=3, lw=1,
                      label=rule["name"])
        pooled = np.asarray(report["max_entropy_noise_pooled"][key])
        ax.loglog(sizes, pooled, "k-", lw=2, label="max-entropy noise, pooled median")
        fitted_line = pooled[0] * np.sqrt(sizes[0] / sizes)
        ax.loglog(sizes, fitted_line, "k--", lw=1, label="slope -1/2 reference")
        slope = report["max_entropy_noise_pooled"][
            "weight_slope" if key == "median_abs_weight" else "grad0_slope"]["slope"]
        ax.set_title(f"{title}\nmax-entropy noise slope {slope:.3f} "
                     f"(theory -0.5 ± {report['max_entropy_noise_pooled']['tolerance']:.3f})",
                     fontsize=9)
        ax.set_xlabel("pairs N")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    ax = axes[2]
    names = [r["name"] for r in report["rules"]]
    fitted = np.array([r["median_abs_weight"][-1] for r in report["rules"]])
    encore = np.asarray(report["descriptive"]["encore_weights"])
    x = np.arange(len(names))
    ax.bar(x - 0.2, fitted / fitted.sum(), 0.4, label="BT |w| (normalised), largest N")
    ax.bar(x + 0.2, encore, 0.4, label="ENCORE softmax(-H/2)")
    for i, r in enumerate(report["rules"]):
        ax.text(x[i], max(fitted[i] / fitted.sum(), encore[i]) + 0.01, f"H={r['entropy']:.2f}",
                ha="center", fontsize=7)
    ax.set_xticks(x, names, rotation=40, ha="right", fontsize=7)
    rho = report["descriptive"]["spearman_entropy_vs_abs_weight"]
    ax.set_title(f"weights by rule; Spearman(H, |w|) = {rho['theorem_rules']:.2f} "
                 f"(theorem rules), {rho['all_rules']:.2f} (all)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m encore_jax.theory.bt_gradients",
        description="Numerical check of ENCORE's Theorem 1 (max-entropy rules get O(1/sqrt(N)) "
        "Bradley-Terry gradient and weight); writes report.json and a PNG figure.",
    )
    parser.add_argument("--out", type=Path, default=default_out_dir(CHECK_NAME),
                        help=f"output directory (default ./{default_out_dir(CHECK_NAME)})")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing report.json in the output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"simulations per size (default {DEFAULT_SEEDS}; "
                        f"{QUICK_SEEDS} with --quick)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help=f"numbers of pairs (default {' '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--quick", action="store_true",
                        help=f"sizes up to 1e5 and {QUICK_SEEDS} seeds (default sizes: "
                        f"{DEFAULT_SIZES})")
    parser.add_argument("--no-figure", action="store_true", help="skip the PNG figure")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    try:
        report = run(args.out, sizes=sizes, num_seeds=seeds, seed=args.seed,
                     figure=not args.no_figure, force=args.force)
    except FileExistsError as err:
        parser.error(str(err))
    pooled = report["max_entropy_noise_pooled"]
    print(f"wrote {Path(args.out) / 'report.json'}"
          f"{'' if args.no_figure else ' and ' + FIGURE_NAME} ({report['seconds']} s)")
    print(f"  max-entropy noise rules: slope of log|w| {pooled['weight_slope']['slope']:+.3f}, "
          f"of log|grad(0)| {pooled['grad0_slope']['slope']:+.3f} "
          f"(interval +/- {pooled['tolerance']:.3f}: must contain -0.5 and exclude 0)")
    for rule in report["rules"]:
        print(f"  {rule['name']:24s} H={rule['entropy']:.3f}  w*={rule['population_bt_weight']:.2f}"
              f"  median w at N={report['setup']['sizes'][-1]}: {rule['median_weight'][-1]:+.4f}"
              f"  slope {rule['weight_slope']['slope']:+.3f}")
    conv = report["convergence"]
    print(f"  fits converged: {conv['converged']} / {conv['fits']} "
          f"(max |grad| {conv['max_grad_norm']:.2g}, <= {conv['max_steps_taken']} steps)")
    rho = report["descriptive"]["spearman_entropy_vs_abs_weight"]
    print(f"  descriptive (fixed by the rule table, not in holds): Spearman(entropy, |w|) "
          f"{rho['theorem_rules']:+.3f} (theorem rules), {rho['all_rules']:+.3f} (all rules)")
    for part, value in report["holds_parts"].items():
        print(f"  {part}: {value}")
    print(f"  holds: {report['holds']}")
    return 0 if report["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
