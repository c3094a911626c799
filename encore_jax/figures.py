"""Figures of the comparison (PNG through matplotlib's Agg backend).

matplotlib (a dependency of the package) is imported inside these functions only, so
``import encore_jax.figures`` stays light. Each builder returns a
``matplotlib.figure.Figure`` attached to an Agg canvas (no ``pyplot``, so no global figure
state and no display needed); :func:`save_png` writes one.

* :func:`entropy_accuracy_figure`: per-rule entropy ``H_k`` against pairwise accuracy
  ``a_k`` (with intervals), the least-squares line ``a = b0 + b1 H`` and Pearson's ``r``.
* :func:`weights_vs_entropy_figure`: ENCORE weights ``softmax(-H / tau)_k`` against ``H_k``
  for several temperatures ``tau``.
* :func:`method_accuracy_figure`: accuracy of each method with its interval.
* :func:`comparison_figures`: the three from a :func:`encore_jax.compare_methods` report.
* :func:`difference_histogram_figure`: histograms of per-ensemble accuracy differences.
* :func:`demo_figures`: the four figures of ``encore-jax demo``
  (:func:`encore_jax.workflows.demo.demo`).
* :func:`curve_figure`: the learning curve of ``encore-jax curve``
  (:func:`encore_jax.workflows.curve.learning_curve`), accuracy against labelled groups.
* :func:`premise_check_figure` / :func:`premise_figure`: the premise check
  (``PremiseReport.to_dict()``), per rule entropy against accuracy and decisive accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEMO_FIGURE_NAMES",
    "FIGURE_NAMES",
    "comparison_figures",
    "curve_figure",
    "demo_figures",
    "difference_histogram_figure",
    "entropy_accuracy_figure",
    "method_accuracy_figure",
    "premise_check_figure",
    "premise_figure",
    "save_figure",
    "save_png",
    "weights_vs_entropy_figure",
]

#: File names :func:`comparison_figures` uses, in order.
FIGURE_NAMES = ("entropy_vs_accuracy.png", "weights_vs_entropy.png", "method_accuracy.png")

#: File names :func:`demo_figures` uses, in order.
DEMO_FIGURE_NAMES = ("simulated_family_differences.png", "simulated_entropy_vs_accuracy.png",
                     "oasst1_entropy_vs_accuracy.png", "oasst1_method_accuracy.png")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _vector(name: str, values: Any, size: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        expected = "[K]" if size is None else f"[{size}]"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def _names(rule_names: Sequence[str] | None, size: int) -> list[str]:
    names = [f"rule_{k}" for k in range(size)] if rule_names is None else list(rule_names)
    if len(names) != size:
        raise ValueError(f"rule_names has {len(names)} names for {size} rules")
    return [str(n) for n in names]


def entropy_accuracy_figure(
    entropies: Any,
    accuracies: Any,
    *,
    rule_names: Sequence[str] | None = None,
    accuracy_low: Any | None = None,
    accuracy_high: Any | None = None,
    correlation: Mapping[str, Any] | None = None,
    title: str = "Rule entropy vs pairwise accuracy",
    ylabel: str = "pairwise accuracy (eval)",
) -> Any:
    """Scatter of per-rule entropy ``H_k`` (x) against accuracy ``a_k`` (y).

    Draws the ordinary least-squares line ``a = b0 + b1 H`` over the rules and labels it with
    Pearson's ``r`` (and its interval and p-value when ``correlation`` is given, as in a
    :func:`encore_jax.compare_methods` report's ``"correlation"``; otherwise ``r`` is computed
    here). Vertical bars show ``[accuracy_low, accuracy_high]`` when given.

    Args:
      entropies: ``H`` ``[K]``. accuracies: ``a`` ``[K]``.
      rule_names: labels of the points.
      accuracy_low, accuracy_high: optional interval ``[K]`` of each accuracy.
      correlation: optional ``{"pearson": {"estimate", "low", "high", "pvalue"}, ...}``.
      title, ylabel: the axes title and y label.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    h = _vector("entropies", entropies)
    a = _vector("accuracies", accuracies, h.size)
    names = _names(rule_names, h.size)
    figure = _figure(6.4, 4.6)
    ax = figure.add_subplot()
    if accuracy_low is not None and accuracy_high is not None:
        low = _vector("accuracy_low", accuracy_low, h.size)
        high = _vector("accuracy_high", accuracy_high, h.size)
        ax.errorbar(h, a, yerr=np.stack([a - low, high - a]), fmt="none", ecolor="0.6",
                    elinewidth=1, capsize=2, zorder=1)
    ax.scatter(h, a, s=36, color="tab:blue", zorder=2)
    for x, y, name in zip(h, a, names, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if h.size >= 2 and np.ptp(h) > 0:
        slope, intercept = np.polyfit(h, a, 1)
        xs = np.linspace(h.min(), h.max(), 50)
        label = _r_label(h, a, correlation)
        ax.plot(xs, intercept + slope * xs, color="tab:red", linewidth=1.5, label=label)
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("rating entropy H")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return figure


def _r_label(h: np.ndarray, a: np.ndarray, correlation: Mapping[str, Any] | None) -> str:
    pearson = None if correlation is None else correlation.get("pearson")
    if pearson is None:
        r = float(np.corrcoef(h, a)[0, 1]) if np.ptp(a) > 0 else float("nan")
        return f"least squares, r = {r:.2f}"
    return (f"least squares, r = {pearson['estimate']:.2f} "
            f"[{pearson['low']:.2f}, {pearson['high']:.2f}], p = {pearson['pvalue']:.2g}")


def weights_vs_entropy_figure(
    entropies: Any,
    temperatures: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
    *,
    rule_names: Sequence[str] | None = None,
    highlight: float | None = 2.0,
    title: str = "ENCORE weights vs entropy",
) -> Any:
    """ENCORE weights ``w_k(tau) = softmax(-H / tau)_k`` against ``H_k``, one line per ``tau``.

    The uniform weight ``1 / K`` is drawn for reference; the line at ``highlight`` (the
    paper's ``tau = 2`` by default) is drawn thicker.

    Args:
      entropies: ``H`` ``[K]``.
      temperatures: the ``tau`` values (> 0).
      rule_names: labels along the lowest-temperature line.
      highlight: a temperature to emphasise, or ``None``.
      title: the axes title.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    h = _vector("entropies", entropies)
    names = _names(rule_names, h.size)
    temperatures = [float(t) for t in temperatures]
    if not temperatures or any(not (np.isfinite(t) and t > 0) for t in temperatures):
        raise ValueError(f"temperatures must be finite and > 0, got {temperatures}")
    order = np.argsort(h, kind="stable")
    figure = _figure(6.4, 4.6)
    ax = figure.add_subplot()
    colors = ("tab:purple", "tab:blue", "tab:green", "tab:orange", "tab:red", "tab:brown")
    for j, tau in enumerate(sorted(temperatures)):
        logits = -h / tau
        w = np.exp(logits - logits.max())
        w /= w.sum()
        bold = highlight is not None and np.isclose(tau, highlight)
        ax.plot(h[order], w[order], marker="o", markersize=4, linewidth=2.5 if bold else 1.2,
                color=colors[j % len(colors)], label=f"tau = {tau:g}" + (" (paper)" if bold
                                                                         else ""))
    ax.axhline(1.0 / h.size, color="0.4", linestyle="--", linewidth=1, label="uniform 1/K")
    low_tau = min(temperatures)
    w_low = np.exp(-h / low_tau - (-h / low_tau).max())
    w_low /= w_low.sum()
    # Label rules along the steepest line, skipping names that would sit on top of the last.
    last = -np.inf
    for k in order:
        if h[k] - last < 0.03 * max(np.ptp(h), 1e-12):
            continue
        last = h[k]
        ax.annotate(names[k], (h[k], w_low[k]), textcoords="offset points", xytext=(3, 3),
                    fontsize=6, color="0.3")
    ax.set_xlabel("rating entropy H")
    ax.set_ylabel("weight w = softmax(-H / tau)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def method_accuracy_figure(
    methods: Sequence[Mapping[str, Any]],
    *,
    key: str = "accuracy",
    title: str = "Accuracy per method (held-out pairs)",
    xlabel: str = "pairwise accuracy",
) -> Any:
    """Accuracy of each method as a point with its interval (horizontal, first on top).

    Args:
      methods: rows with ``"label"`` and ``key -> {"estimate", "low", "high"}`` (the
        ``"methods"`` of a :func:`encore_jax.compare_methods` report).
      key: which interval to draw (``"accuracy"`` or ``"safety"``).
      title, xlabel: texts.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    rows = [m for m in methods if m.get(key) is not None]
    if not rows:
        raise ValueError(f"no method has a {key!r} interval to draw")
    labels = [str(m["label"]) for m in rows]
    est = np.array([m[key]["estimate"] for m in rows], np.float64)
    low = np.array([m[key]["low"] for m in rows], np.float64)
    high = np.array([m[key]["high"] for m in rows], np.float64)
    figure = _figure(7.0, 0.45 * len(rows) + 1.4)
    ax = figure.add_subplot()
    y = np.arange(len(rows))[::-1]
    colors = ["tab:red" if m.get("name") == "encore" else "tab:blue" for m in rows]
    ax.errorbar(est, y, xerr=np.stack([est - low, high - est]), fmt="none", ecolor="0.4",
                elinewidth=1.2, capsize=3)
    ax.scatter(est, y, color=colors, s=30, zorder=3)
    for yi, e, hi in zip(y, est, high, strict=True):
        ax.annotate(f"{e:.3f}", (hi, yi), textcoords="offset points", xytext=(4, -3),
                    fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.12)
    return figure


def comparison_figures(report: Mapping[str, Any]) -> dict[str, Any]:
    """The three figures of a :func:`encore_jax.compare_methods` report, by file name
    (:data:`FIGURE_NAMES`)."""
    rules = report["rules"]
    protocol = report["protocol"]
    accuracies = [r["accuracy"] for r in rules]
    lows = [r["accuracy_low"] for r in rules]
    highs = [r["accuracy_high"] for r in rules]
    have_ci = all(x is not None for x in lows + highs)
    correlation = report.get("correlation")
    temperatures = sorted({float(protocol["temperature"])} | {
        float(row["name"].removeprefix("encore_tau_")) for row in report["temperature_sweep"]
    })
    return {
        FIGURE_NAMES[0]: entropy_accuracy_figure(
            report["entropies"], accuracies, rule_names=report["rule_names"],
            accuracy_low=lows if have_ci else None, accuracy_high=highs if have_ci else None,
            correlation=correlation if correlation and correlation.get("available") else None,
            title=f"Rule entropy vs accuracy ({report['num_eval_pairs']} eval pairs, "
                  f"ties {protocol['rule_tie']})",
        ),
        FIGURE_NAMES[1]: weights_vs_entropy_figure(
            report["entropies"], temperatures, rule_names=report["rule_names"],
            highlight=float(protocol["temperature"]),
        ),
        FIGURE_NAMES[2]: method_accuracy_figure(
            report["methods"],
            title=f"Accuracy per method on {report['num_eval_pairs']} held-out pairs\n"
                  f"{protocol['confidence']:.0%} percentile bootstrap CI, ties count as "
                  f"{protocol['tie']}",
        ),
    }


def difference_histogram_figure(
    differences: Mapping[str, Any],
    *,
    title: str = "Accuracy differences over ensembles",
    xlabel: str = "accuracy difference (points)",
) -> Any:
    """Overlaid histograms of per-ensemble differences, one per name, with each mean dashed
    and 0 marked.

    Args:
      differences: name -> ``[F]`` differences (e.g. ENCORE - uniform per ensemble).
      title, xlabel: texts.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    if not differences:
        raise ValueError("differences is empty; give at least one named [F] array")
    arrays = {str(n): _vector(f"differences[{n!r}]", v) for n, v in differences.items()}
    pooled = np.concatenate(list(arrays.values()))
    edges = np.histogram_bin_edges(pooled, bins=30)
    figure = _figure(6.4, 4.2)
    ax = figure.add_subplot()
    colors = ("tab:red", "tab:blue", "tab:green", "tab:purple")
    for j, (name, values) in enumerate(arrays.items()):
        color = colors[j % len(colors)]
        ax.hist(values, bins=edges, alpha=0.45, color=color,
                label=f"{name}: mean {values.mean():+.2f}, > 0 in {np.mean(values > 0):.0%}")
        ax.axvline(values.mean(), color=color, linestyle="--", linewidth=1.2)
    ax.axvline(0.0, color="0.2", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("ensembles")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def _premise_figure(premise: Any, title: str, *, with_ties: bool) -> Any:
    rules = premise.rules
    names = [f"{r.rule} ({r.tie_rate:.0%} ties)" if with_ties else r.rule for r in rules]
    corr = premise.correlation
    return entropy_accuracy_figure(
        [r.entropy for r in rules], [r.accuracy for r in rules], rule_names=names,
        correlation=None if corr is None else {"pearson": corr.pearson._asdict()},
        title=title, ylabel="pairwise accuracy over the pairs rated (ties 1/2)")


def demo_figures(result: Any) -> dict[str, Any]:
    """The figures of ``encore-jax demo`` by file name (:data:`DEMO_FIGURE_NAMES`), from a
    :class:`encore_jax.workflows.demo.DemoResult`: the family's ENCORE - uniform and BT -
    uniform histograms, entropy against accuracy on the first simulated ensemble and on
    OASST1 (labels with their tie rates), and the OASST1 methods on the held-out prompts."""
    sim, real = result.simulated, result.oasst1
    acc = np.asarray(sim.arrays.accuracy, np.float64) * 100
    verdict = {True: "premise holds", False: "premise fails"}
    return {
        DEMO_FIGURE_NAMES[0]: difference_histogram_figure(
            {"ENCORE - uniform": acc[:, 0] - acc[:, 1], "BT - uniform": acc[:, 2] - acc[:, 1]},
            title=f"Simulated family: {sim.family.num_ensembles} random ensembles, held-out "
                  "accuracy differences", xlabel="accuracy difference (points, ties 1/2)"),
        DEMO_FIGURE_NAMES[1]: _premise_figure(
            sim.premise, f"Simulated ensemble 0 ({sim.premise_ensemble_rules} rules): "
            f"{verdict[sim.premise.premise_holds]}", with_ties=False),
        DEMO_FIGURE_NAMES[2]: _premise_figure(
            real.premise, f"OASST1 ({real.premise.protocol['num_pairs']} pairs, 13 labels): "
            f"{verdict[real.premise.premise_holds]}", with_ties=True),
        DEMO_FIGURE_NAMES[3]: method_accuracy_figure(
            [{"name": m.name, "label": m.label, "accuracy": m.eval._asdict()}
             for m in real.methods],
            title=f"OASST1: accuracy on {real.num_eval_pairs} pairs of {real.num_eval_groups} "
                  f"held-out prompts\n{real.protocol['confidence']:.0%} prompt-bootstrap CI, "
                  "ties count 1/2"),
    }


def save_png(figure: Any, path: str | Path, *, dpi: int = 150) -> None:
    """Writes ``figure`` to ``path`` as PNG (the caller handles overwrite policy)."""
    figure.savefig(Path(path), format="png", dpi=dpi)


def save_figure(figure: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Writes ``figure`` to ``path``: SVG or PDF when the suffix says so, else PNG."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    figure.savefig(path, format=suffix if suffix in ("svg", "pdf") else "png", dpi=dpi)
    return path


def curve_figure(document: Mapping[str, Any]) -> Any:
    """Held-out accuracy against the number of labelled groups, one line per method with
    its interval as a band, from :meth:`LearningCurve.to_dict` (``curve`` rows ``labels,
    method, accuracy, low, high``); recommended methods are ringed at their budget.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    rows = list(document["curve"])
    if not rows:
        raise ValueError("the curve has no rows to draw")
    methods = list(dict.fromkeys(r["method"] for r in rows))
    figure = _figure(7.5, 4.6)
    ax = figure.add_subplot()
    colors = {}
    for i, method in enumerate(methods):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["labels"])
        x = np.array([r["labels"] for r in mine], np.float64)
        acc = np.array([r["accuracy"] for r in mine], np.float64)
        low = np.array([r["low"] for r in mine], np.float64)
        high = np.array([r["high"] for r in mine], np.float64)
        style = "--" if method.startswith("bt") else "-"
        (line,) = ax.plot(x, acc, style, marker="o", markersize=3, label=method,
                          color=f"C{i % 10}")
        colors[method] = line.get_color()
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.12, linewidth=0)
    for rec in document.get("recommendation", []):
        match = [r for r in rows if r["method"] == rec["method"] and r["labels"] == rec["labels"]]
        if match:
            ax.scatter([rec["labels"]], [match[0]["accuracy"]], s=110, facecolors="none",
                       edgecolors=colors[rec["method"]], linewidths=1.5, zorder=4)
    protocol = document.get("protocol", {})
    ties = "1/2" if protocol.get("tie", "half") == "half" else "0"
    ax.set_xscale("symlog", linthresh=16)
    budgets = sorted({r["labels"] for r in rows})
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("labelled groups n")
    ax.set_ylabel(f"held-out accuracy (ties {ties})")
    confidence = protocol.get("confidence", 0.95)
    ax.set_title(f"Learning curve: mean over {protocol.get('num_repeats', '?')} draws, "
                 f"{confidence:.0%} bands resample draws and groups\n(ringed: the "
                 "recommendation, chosen on other held-out groups)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return figure


def _corr_text(name: str, corr: Mapping[str, Any] | None) -> str:
    if corr is None:
        return f"{name}: undefined"
    p = corr["pearson"]
    return f"{name}: Pearson r = {p['estimate']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"


def premise_check_figure(report: Mapping[str, Any]) -> Any:
    """The premise check of ``PremiseReport.to_dict()`` as two panels: per rule, entropy
    against accuracy (ties 1/2) and against decisive accuracy (pairs not tied), marker area
    proportional to coverage, rare flags (lower-entropy half, tie rate above the report's
    ``rare_tie_rate``, the verdict's reading) drawn as crosses; each panel's title gives
    Pearson's ``r`` with its bootstrap interval. The second panel shows the rules its
    correlation is over (those with enough decided pairs); the others are named in a caption.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    rules = list(report["rules"])
    if not rules:
        raise ValueError("the premise report has no rules to draw")
    rare_tie_rate = float(report.get("protocol", {}).get("rare_tie_rate", 0.9))
    order = np.argsort([r["entropy"] for r in rules], kind="stable")
    lower_half = {rules[i]["rule"] for i in order[: len(rules) // 2]}
    rare = {r["rule"] for r in rules if r["rule"] in lower_half and r["tie_rate"] > rare_tie_rate}
    figure = _figure(11.0, 4.6)
    panels = (("accuracy", "accuracy (ties 1/2)", report.get("correlation")),
              ("decisive_accuracy", "decisive accuracy (pairs not tied)",
               report.get("decisive_correlation")))
    for index, (key, label, corr) in enumerate(panels):
        ax = figure.add_subplot(1, 2, index + 1)
        # The decisive panel shows the rules its correlation is over (enough decided pairs).
        within = (corr or {}).get("rules") if index == 1 else None
        shown = [r for r in rules if r[key] is not None
                 and (within is None or r["rule"] in within)]
        for is_rare in (False, True):
            part = [r for r in shown if (r["rule"] in rare) == is_rare]
            if not part:
                continue
            ax.scatter([r["entropy"] for r in part], [r[key] for r in part],
                       s=[20 + 180 * r["coverage"] for r in part],
                       marker="X" if is_rare else "o", alpha=0.75,
                       color="tab:red" if is_rare else "tab:blue",
                       label=(f"rare flag (lower-entropy half, ties > {rare_tie_rate:.0%})"
                              if is_rare else "rule"))
        for r in shown:
            ax.annotate(r["rule"], (r["entropy"], r[key]), textcoords="offset points",
                        xytext=(4, 3), fontsize=7)
        ax.axhline(0.5, color="0.5", linewidth=0.8, linestyle=":")
        ax.set_xlabel("entropy of the rule's ratings")
        ax.set_ylabel(label)
        ax.set_title(_corr_text(f"entropy vs {label.split(' (')[0]}", corr), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        left_out = [r["rule"] for r in rules if r not in shown]
        if left_out:
            ax.text(0.01, 0.01, "too few decided pairs: " + ", ".join(left_out),
                    transform=ax.transAxes, fontsize=7)
    verdict = "holds" if report.get("premise_holds") else "does not hold"
    figure.suptitle(f"ENCORE premise check: {verdict} (marker area = coverage)", fontsize=10)
    return figure


def premise_figure(report_dict: Mapping[str, Any], path: str | Path) -> Path:
    """Draws :func:`premise_check_figure` of ``report_dict`` (``PremiseReport.to_dict()``)
    and writes it to ``path`` (PNG unless the suffix is .svg or .pdf); returns the path."""
    return save_figure(premise_check_figure(report_dict), path)
