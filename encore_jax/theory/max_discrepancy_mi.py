"""Numerical check of the RuleAdapter theorem: maximum-discrepancy selection and I(Y; Z_S).

Run ``encore-jax theory max-discrepancy-mi`` or ``python -m encore_jax.theory.max_discrepancy_mi
[--out DIR]``; it writes ``report.json`` and ``max_discrepancy_mi.png`` to ``DIR`` (default
``./encore-jax-theory/max-discrepancy-mi/``; an existing report is kept unless ``--force``).
The statement, its assumptions and the proof are in ``encore_jax/theory/THEORY.md``
("RuleAdapter").

Model (the independent-errors model). ``Y`` in ``{A, B}`` is the true preference with prior
``P(Y = A) = pi`` (``pi = 1/2``: symmetric). Rule ``k`` has discrepancy ``d_k`` (the
difference of its ratings of A and B) and casts the vote ``Z_k`` in ``{A, B}``, wrong with
probability ``eps_k = eps(|d_k|)``, independently across rules given ``Y``; ``eps`` is
non-increasing and ``0 <= eps <= 1/2``. Claim: among the size-``k`` subsets ``S`` of the
``K`` rules, the ``k`` rules with the largest ``|d|`` (``encore_jax.select_rules``) maximise
``I(Y; Z_S)``.

Parts of the check:

1. Exact enumeration (:mod:`encore_jax.theory.mi_enumeration`). For random ``|d|`` and
   random non-increasing ``eps`` profiles (four families), every size-``k`` subset's ``I(Y;
   Z_S)`` is computed exactly (all ``2^k`` vote patterns, float64) and compared with the
   selected subset's. Any subset beating it by more than the float64 rounding bound is a
   counterexample and is reported. Probes *outside* the assumptions are run the same way and
   reported separately: a non-symmetric prior (still covered by the proof), ``eps`` allowed
   above 1/2, correlated (duplicated) rules, the information of the majority-vote *label*
   (``label_pairs(vote="sign")`` when every selected rule votes: the corollary) instead of the
   vote vector, and the same label when rules with ``d = 0`` abstain (outside the corollary).
2. Simulated ensembles (``encore_jax.simulate_rule_ensemble``): the agreement of the rule
   labels (``encore_jax.label_pairs``, with the default sum vote and with ``vote="sign"``,
   the labeller the theorem's corollary covers) with the true preference and the plug-in ``I(label;
   Y)`` for maximum-discrepancy, random-``k`` and all-rules selection, with paired
   percentile-bootstrap intervals (``encore_jax.metrics.bootstrap_ci``). Two ensembles: a
   homogeneous one (identical rules: exactly the theorem's model with
   ``eps(|d|) = sigmoid(-beta |d|)``) and a heterogeneous one (informative, spread-out and
   pure-noise rules: ``eps`` differs between rules, outside the theorem).
3. The combination with ENCORE weights on the same ratings: labels weighted by
   ``encore_weights`` (all rules, and maximum-discrepancy selection), and selection by the
   ENCORE-scaled discrepancy ``w_k |d_k|``.
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

from encore_jax.metrics import bootstrap_ci
from encore_jax.selection import all_rules, label_pairs, random_rule_selection, select_rules
from encore_jax.simulate import simulate_rule_ensemble
from encore_jax.theory._report import check_out_dir, default_out_dir, save_report
from encore_jax.theory.mi_enumeration import enumeration_check
from encore_jax.weights import encore_weights

CHECK_NAME = "max-discrepancy-mi"
FIGURE_NAME = "max_discrepancy_mi.png"


# --------------------------------------------------------------------------------------------
# Parts 2 and 3: simulated ensembles, bootstrap intervals, ENCORE weights
# --------------------------------------------------------------------------------------------


@jax.jit
def plugin_information(sample: jax.Array, valid: jax.Array) -> jax.Array:
    """Plug-in ``I(label; Y)`` (nats) of cell codes ``c = 2 [label = A] + [Y = A]``.

    A ``bootstrap_ci`` statistic: ``sample [..., N]`` codes in ``{0, 1, 2, 3}``, ``valid [N]``.
    ``I = sum_{l, y} p_ly log(p_ly / (p_l p_y))`` over the empirical 2x2 table, ``0 log 0 = 0``.
    Its bias is about ``(2 - 1)(2 - 1) / (2 N)`` nats (Miller), negligible here.
    """
    codes = jnp.arange(4, dtype=sample.dtype).reshape((1,) * sample.ndim + (4,))
    valid = jnp.broadcast_to(valid, sample.shape)[..., None]
    hits = (sample[..., None] == codes) & valid  # [..., N, 4]
    counts = jnp.sum(hits, axis=-2, dtype=jnp.float32)  # [..., 4]
    joint = counts / jnp.sum(counts, axis=-1, keepdims=True)
    table = joint.reshape((*joint.shape[:-1], 2, 2))  # [label, y]
    outer = jnp.sum(table, -1, keepdims=True) * jnp.sum(table, -2, keepdims=True)
    positive = table > 0
    ratio = jnp.where(positive, table, 1.0) / jnp.where(positive, outer, 1.0)
    return jnp.sum(jnp.where(positive, table * jnp.log(ratio), 0.0), axis=(-2, -1))


@jax.jit
def _agreement(sample: jax.Array, valid: jax.Array) -> jax.Array:
    """Fraction of codes with label == Y (codes 0 and 3): a ``bootstrap_ci`` statistic."""
    agree = ((sample == 0) | (sample == 3)) & jnp.broadcast_to(valid, sample.shape)
    return jnp.sum(agree, axis=-1, dtype=jnp.float32) / jnp.sum(valid, dtype=jnp.float32)


@jax.jit
def _agreement_and_information(sample: jax.Array, valid: jax.Array) -> jax.Array:
    """Both statistics stacked on a trailing axis ``[..., 2]``: one bootstrap pass."""
    return jnp.stack([_agreement(sample, valid), plugin_information(sample, valid)], axis=-1)


ENSEMBLES = {
    # Identical rules: P(sign(d) wrong | |d|) = sigmoid(-beta |d|) exactly (the tilt gives
    # P(d = m) / P(d = -m) = exp(beta m)), errors independent given Y: the theorem's model.
    "homogeneous": {
        "informativeness": [0.6] * 12,
        "spread": [1.5] * 12,
    },
    # Informative concentrated rules, informative spread-out rules and pure-noise rules
    # (i.i.d. uniform ratings): eps depends on the rule, outside the theorem.
    "heterogeneous": {
        "informativeness": [1.2, 1.0, 0.8, 0.6, 0.5, 0.5, 0.4, 0.3, 0.0, 0.0, 0.0, 0.0],
        "spread": [0.8, 1.0, 1.2, 1.5, 4.0, 8.0, 2.0, 3.0] + [math.inf] * 4,
    },
}


def method_names(k: int) -> list[str]:
    """The compared methods, in the order of the rows :func:`_method_codes` returns."""
    return [
        f"max_discrepancy_k{k}",
        f"random_k{k}",
        "all_rules",
        f"max_discrepancy_k{k}+encore_label",
        f"encore_scaled_selection_k{k}+encore_label",
        "all_rules+encore_label",
        f"max_discrepancy_k{k}+sign_vote",
        f"random_k{k}+sign_vote",
    ]


@functools.partial(jax.jit, static_argnames="k")
def _method_codes(ensemble, key: jax.Array, k: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Cell codes ``2 [label = A] + [Y = A]`` of every method ``[M, N]`` (rows in
    :func:`method_names` order), the ENCORE weights ``[K]`` (entropies of all rated responses,
    the default temperature 2), and the codes of the ``k = 1..K`` sweep ``[2, K, N]``
    (maximum discrepancy, then random). One compilation per ensemble shape."""
    a, b = ensemble.ratings_a, ensemble.ratings_b
    num_pairs, num_rules = a.shape
    truth = ensemble.preferred_a.astype(jnp.float32)

    def code(labels: jax.Array) -> jax.Array:
        return 2.0 * labels.astype(jnp.float32) + truth

    _, w = encore_weights(jnp.concatenate([a, b], axis=0), ensemble.num_levels)
    max_disc = select_rules(a, b, k)
    # Selection by the ENCORE-scaled discrepancy w_k |a_k - b_k| (w > 0).
    scaled = select_rules(a.astype(jnp.float32) * w[None, :], b.astype(jnp.float32) * w[None, :],
                          k)
    everything = all_rules(num_pairs, num_rules)
    key_main, key_sweep = jax.random.split(key)
    random_k = random_rule_selection(key_main, num_pairs, num_rules, k)
    codes = jnp.stack([
        code(label_pairs(a, b, max_disc)),
        code(label_pairs(a, b, random_k)),
        code(label_pairs(a, b, everything)),
        code(label_pairs(a, b, max_disc, weights=w)),
        code(label_pairs(a, b, scaled, weights=w)),
        code(label_pairs(a, b, everything, weights=w)),
        code(label_pairs(a, b, max_disc, vote="sign")),
        code(label_pairs(a, b, random_k, vote="sign")),
    ])
    sweep = jnp.stack([
        jnp.stack([code(label_pairs(a, b, select_rules(a, b, j)))
                   for j in range(1, num_rules + 1)]),
        jnp.stack([code(label_pairs(a, b, random_rule_selection(
            jax.random.fold_in(key_sweep, j), num_pairs, num_rules, j)))
                   for j in range(1, num_rules + 1)]),
    ])
    return codes, w, sweep


def simulation_check(
    seed: int = 0,
    num_pairs: int = 20_000,
    k: int = 3,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    ensembles: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, Any]:
    """Parts 2 and 3: label agreement and plug-in ``I(label; Y)`` per method and ensemble,
    with paired percentile-bootstrap intervals (all methods resampled on the same pairs).

    ``ensembles`` maps a name to ``simulate_rule_ensemble``'s ``informativeness`` and
    ``spread`` lists (default :data:`ENSEMBLES`)."""
    ensembles = ENSEMBLES if ensembles is None else ensembles
    key = jax.random.key(seed)
    out: dict[str, Any] = {
        "num_pairs": num_pairs, "k": k, "num_resamples": num_resamples,
        "confidence": confidence, "tie_winner": "b", "ensembles": {},
    }
    for index, (name, params) in enumerate(ensembles.items()):
        key_sim, key_random, key_boot = jax.random.split(jax.random.fold_in(key, index), 3)
        ensemble = simulate_rule_ensemble(
            key_sim, num_pairs, informativeness=jnp.asarray(params["informativeness"]),
            spread=jnp.asarray(params["spread"]),
        )
        codes, w, sweep = _method_codes(ensemble, key_random, k)
        names = method_names(k)
        # One paired bootstrap for both statistics: intervals [M, 2] (agreement, information).
        ci = bootstrap_ci(key_boot, codes, num_resamples=num_resamples,
                          confidence=confidence, statistic=_agreement_and_information)
        out["ensembles"][name] = {
            "k_sweep": _k_sweep(sweep),
            "informativeness": params["informativeness"],
            "spread": [str(s) if math.isinf(s) else s for s in params["spread"]],
            "rule_entropy_nats": np.asarray(ensemble.entropy).round(4).tolist(),
            "rule_accuracy": np.asarray(ensemble.accuracy).round(4).tolist(),
            "encore_weights": np.asarray(w).round(4).tolist(),
            "methods": {
                m: {
                    "agreement": _interval(ci, i, 0),
                    "information_nats": _interval(ci, i, 1),
                }
                for i, m in enumerate(names)
            },
            "paired_differences": _paired_differences(ci, names, confidence),
            "max_discrepancy_beats_random": _dominance(ci, names, num_pairs, 0, 1),
            "max_discrepancy_beats_random_sign_vote": _dominance(ci, names, num_pairs, 6, 7),
        }
    out["holds"] = all(e["max_discrepancy_beats_random"]["holds"]
                       and e["max_discrepancy_beats_random_sign_vote"]["holds"]
                       for e in out["ensembles"].values())
    return out


# The assertion "max discrepancy beats random-k" needs the paired difference to exceed this
# many of its own (bootstrap) standard errors: P(N(0, 1) > 5) = 2.9e-7.
DOMINANCE_Z = 5.0


def _dominance(ci, names: list[str], num_pairs: int, i: int, j: int) -> dict[str, Any]:
    """Does maximum discrepancy (method ``names[i]``) beat random-``k`` (``names[j]``) at this
    ``N``, by a margin the check's own variance makes certain? For agreement and
    ``I(label; Y)``: the paired difference
    ``delta_hat`` must exceed ``DOMINANCE_Z`` bootstrap standard errors ``se``. Reported with
    two bounds on the chance that a rerun of the same size fails, taking the true difference
    to be ``delta_hat``: the normal approximation ``P(N(0, 1) > delta_hat / se - Z)``, and for
    agreement Hoeffding's ``exp(-N (delta_hat - Z se)^2 / 2)`` (per-pair differences lie in
    ``[-1, 1]``)."""
    from scipy.stats import norm

    estimate, replicates = np.asarray(ci.estimate), np.asarray(ci.replicates)
    out: dict[str, Any] = {"rule": f"paired difference > {DOMINANCE_Z:g} bootstrap SE",
                           "methods": [names[i], names[j]]}
    for c, metric in enumerate(("agreement", "information_nats")):
        delta = float(estimate[i, c] - estimate[j, c])
        se = float(np.std(replicates[i, c] - replicates[j, c], ddof=1))
        row = {"difference": delta, "standard_error": se,
               "holds": bool(delta > DOMINANCE_Z * se),
               "failure_probability_normal": float(norm.sf(delta / se - DOMINANCE_Z))
               if se > 0 else 0.0}
        if metric == "agreement":
            margin = max(delta - DOMINANCE_Z * se, 0.0)
            row["failure_probability_hoeffding"] = math.exp(-num_pairs * margin**2 / 2)
        out[metric] = row
    out["holds"] = all(out[m]["holds"] for m in ("agreement", "information_nats"))
    return out


def _comparisons(names: list[str]) -> list[tuple[str, str]]:
    """(method, baseline) pairs whose paired difference the report gives."""
    (max_disc, random_k, everything, max_disc_encore, scaled, everything_encore, max_sign,
     random_sign) = names
    return [(max_disc, random_k), (max_disc, everything), (max_disc_encore, max_disc),
            (scaled, max_disc), (everything_encore, everything), (max_sign, random_sign),
            (max_sign, max_disc)]


def _paired_differences(ci, names: list[str], confidence: float) -> dict[str, Any]:
    """Percentile intervals of ``stat(method) - stat(baseline)`` from the paired replicates
    (every method was resampled on the same pairs, so the difference's spread is not the
    sum of the two marginal spreads)."""
    tail = 100 * (1 - confidence) / 2
    estimate, replicates = np.asarray(ci.estimate), np.asarray(ci.replicates)  # [M, 2(, B)]
    out = {}
    for method, baseline in _comparisons(names):
        i, j = names.index(method), names.index(baseline)
        diff = replicates[i] - replicates[j]  # [2, B]
        low, high = np.percentile(diff, [tail, 100 - tail], axis=-1)
        out[f"{method} - {baseline}"] = {
            metric: {"estimate": float(estimate[i, c] - estimate[j, c]), "low": float(low[c]),
                     "high": float(high[c])}
            for c, metric in enumerate(("agreement", "information_nats"))
        }
    return out


def _k_sweep(sweep: jax.Array) -> dict[str, list[float]]:
    """Point estimates of ``I(label; Y)`` and agreement for every ``k = 1..K`` (no CIs)."""
    valid = jnp.ones(sweep.shape[-1:], jnp.bool_)
    out: dict[str, list[float]] = {"k": list(range(1, sweep.shape[1] + 1))}
    for method, codes in zip(("max_discrepancy", "random"), sweep, strict=True):
        out[f"{method}_information_nats"] = np.asarray(
            plugin_information(codes, valid)).round(5).tolist()
        out[f"{method}_agreement"] = np.asarray(_agreement(codes, valid)).round(5).tolist()
    return out


def _interval(ci, i: int, j: int) -> dict[str, float]:
    return {"estimate": float(ci.estimate[i, j]), "low": float(ci.low[i, j]),
            "high": float(ci.high[i, j])}


# --------------------------------------------------------------------------------------------
# Report, figure, entry point
# --------------------------------------------------------------------------------------------


def write_figure(report: dict[str, Any], path: Path) -> None:
    """(a) enumeration counterexample rates; (b, c) agreement and ``I(label; Y)`` per method
    with bootstrap intervals; (d) ``I(label; Y)`` against ``k``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    enum, sim = report["enumeration"], report["simulation"]
    fig, axes = plt.subplots(2, 2, figsize=(15, 10), constrained_layout=True)
    rows = [(f"{f} (within)", r) for f, r in enum["within_assumptions"].items()]
    rows += [(f"{p} (probe)", r) for p, r in enum["probes"].items()]
    rates = [r["counterexamples"] / r["draws"] for _, r in rows]
    ax = axes[0, 0]
    inside = ("within", "asymmetric")
    colors = ["tab:green" if any(t in n for t in inside) else "tab:red" for n, _ in rows]
    ax.barh([n for n, _ in rows], rates, color=colors)
    for y, (_, r) in enumerate(rows):
        ax.text(0.01, y, f"{r['counterexamples']}/{r['draws']}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("fraction of draws where the top-|d| subset does not maximise the objective")
    ax.set_title("(a) exact enumeration: green = within the assumptions")
    ensembles = sim["ensembles"]
    methods = list(next(iter(ensembles.values()))["methods"])
    width = 0.8 / len(ensembles)
    for ax, metric, label, tag in (
        (axes[0, 1], "agreement", "label agreement with Y", "(b)"),
        (axes[1, 0], "information_nats", "plug-in I(label; Y) [nats]", "(c)"),
    ):
        for j, (name, ens) in enumerate(ensembles.items()):
            values = [ens["methods"][m][metric] for m in methods]
            est = np.array([v["estimate"] for v in values])
            err = np.array([[v["estimate"] - v["low"] for v in values],
                            [v["high"] - v["estimate"] for v in values]])
            y = np.arange(len(methods)) + (j - (len(ensembles) - 1) / 2) * width
            ax.barh(y, est, height=width, xerr=err, label=name, capsize=2)
        ax.set_yticks(np.arange(len(methods)), methods, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"{label}, {sim['confidence']:.0%} paired bootstrap CI")
        ax.set_title(f"{tag} simulated ensembles, N = {sim['num_pairs']}, k = {sim['k']}")
        ax.legend(fontsize=8)
    ax = axes[1, 1]
    for j, (name, ens) in enumerate(ensembles.items()):
        sweep = ens["k_sweep"]
        color = f"C{j}"
        ax.plot(sweep["k"], sweep["max_discrepancy_information_nats"], "o-", color=color,
                label=f"{name}: max discrepancy")
        ax.plot(sweep["k"], sweep["random_information_nats"], "s--", color=color,
                label=f"{name}: random k")
    ax.set_xlabel("k (rules selected per pair); k = K is all rules")
    ax.set_ylabel("plug-in I(label; Y) [nats]")
    ax.set_title("(d) the labels' information against k (point estimates)")
    ax.legend(fontsize=8)
    fig.suptitle("RuleAdapter: maximum-discrepancy selection and mutual information")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(
    out_dir: str | Path | None = None,
    *,
    seed: int = 0,
    draws_per_cell: int = 40,
    rule_counts: Sequence[int] = (3, 4, 6, 8, 10),
    num_pairs: int = 20_000,
    k: int = 3,
    num_resamples: int = 1000,
    ensembles: dict[str, dict[str, list[float]]] | None = None,
    figure: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Runs all parts, writes ``report.json`` (and the figure) to ``out_dir`` (default
    ``./encore-jax-theory/max-discrepancy-mi/``; an existing report is overwritten only with
    ``force``), returns the report."""
    out_dir = check_out_dir(default_out_dir(CHECK_NAME) if out_dir is None else out_dir,
                            force=force)
    start = time.perf_counter()
    report = {
        "check": "max_discrepancy_mi",
        "statement": "encore_jax/theory/THEORY.md#ruleadapter-maximum-discrepancy-selection-"
                     "maximises-mutual-information",
        "seed": seed,
        "enumeration": enumeration_check(seed, draws_per_cell, rule_counts),
        "simulation": simulation_check(seed, num_pairs, k, num_resamples,
                                       ensembles=ensembles),
    }
    within = report["enumeration"]["within_assumptions"]
    report["enumeration"]["holds_within_assumptions"] = bool(
        all(r["counterexamples"] == 0 for r in within.values())
        and report["enumeration"]["probes"]["asymmetric_prior"]["counterexamples"] == 0
    )
    report["holds_rule"] = (
        "no counterexample within the assumptions (exact enumeration), and in every simulated "
        f"ensemble max discrepancy beats random-k by more than {DOMINANCE_Z:g} bootstrap "
        "standard errors in agreement and in I(label; Y)")
    report["holds"] = bool(report["enumeration"]["holds_within_assumptions"]
                           and report["simulation"]["holds"])
    return save_report(report, out_dir, started=start, figure_path_name=FIGURE_NAME,
                       write_figure=write_figure if figure else None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m encore_jax.theory.max_discrepancy_mi",
        description="Numerical check of the RuleAdapter theorem (max-discrepancy selection "
        "maximises I(Y; Z_S)); writes report.json and a PNG figure.",
    )
    parser.add_argument("--out", type=Path, default=default_out_dir(CHECK_NAME),
                        help=f"output directory (default ./{default_out_dir(CHECK_NAME)})")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing report.json in the output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=40,
                        help="random draws per eps family and (K, k) cell (default 40)")
    parser.add_argument("--pairs", type=int, default=20_000, help="simulated pairs")
    parser.add_argument("--k", type=int, default=3, help="rules selected per pair")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 draws per cell, K <= 6, 2000 pairs, 200 resamples")
    args = parser.parse_args(argv)
    sizes = {"draws_per_cell": args.draws, "num_pairs": args.pairs,
             "num_resamples": args.resamples}
    if args.quick:
        sizes = {"draws_per_cell": 4, "rule_counts": (3, 4, 6), "num_pairs": 2000,
                 "num_resamples": 200}
    try:
        report = run(args.out, seed=args.seed, k=args.k, force=args.force, **sizes)
    except FileExistsError as err:
        parser.error(str(err))
    enum = report["enumeration"]
    print(f"wrote {Path(args.out) / 'report.json'} and {FIGURE_NAME} ({report['seconds']} s)")
    for group in ("within_assumptions", "probes"):
        for name, r in enum[group].items():
            print(f"  {group:18s} {name:32s} counterexamples {r['counterexamples']:5d} "
                  f"/ {r['draws']:5d}  max gap {r['max_gap']:.3g} nats")
    for name, ens in report["simulation"]["ensembles"].items():
        for vote, dom in (("sum ", ens["max_discrepancy_beats_random"]),
                          ("sign", ens["max_discrepancy_beats_random_sign_vote"])):
            for metric in ("agreement", "information_nats"):
                row = dom[metric]
                print(f"  {name:13s} {vote} max discrepancy - random-k {metric:16s} "
                      f"{row['difference']:+.4f} (SE {row['standard_error']:.4f}, "
                      f"{row['difference'] / max(row['standard_error'], 1e-300):.0f} SE; "
                      f"needs > {DOMINANCE_Z:g})")
    if not enum["holds_within_assumptions"]:
        print("FAILED: a counterexample within the assumptions (see report.json)")
    print(f"  holds: {report['holds']}")
    return 0 if report["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
