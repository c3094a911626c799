"""Argument validation shared by the public entry points.

Every check raises ``ValueError`` or ``TypeError`` whose message names the argument and
the offending value. Checks on *values* (range, finiteness) run only when the array is
concrete; inside an outer ``jax.jit`` / ``vmap`` the arrays are tracers, the value checks are
skipped, and the numerical kernels poison the affected outputs with NaN instead (see each
function's docstring). Checks on shapes and dtypes are static and always run.

Value checks never copy a device array to the host: each is a reduction on the array's
device(s) that moves one flag (and, only when it fails, the first offender's index and
value). The kernels of the public functions go further and return their own validity flag
from the same pass over the data (e.g. ``isfinite`` of the output of a matrix-vector
product, which is non-finite whenever an input is); the exact input check runs only when
that flag fails, to name the offending argument and entry.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

ESTIMATORS = ("plugin", "miller_madow")
TIE_POLICIES = ("loss", "half", "random")


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds actual values this process can read: not a tracer under
    jit / vmap / grad, nor a multi-host global array whose shards live on other hosts
    (validate each process's rows before :func:`encore_jax.mesh.shard_rows` assembles
    them)."""
    if isinstance(x, jax.core.Tracer):
        return False
    return not isinstance(x, jax.Array) or x.is_fully_addressable


def as_array(name: str, x: Any) -> jax.Array:
    """Converts ``x`` to a ``jax.Array`` (a ``jax.Array`` is returned as is, never copied; a host
    array is transferred once), with a ``TypeError`` naming ``name`` on failure."""
    if isinstance(x, jax.Array):
        return x
    try:
        arr = np.asarray(x)
    except Exception as err:  # pragma: no cover - numpy's own message is kept
        raise TypeError(f"{name} could not be converted to an array: {err}") from err
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    bad = first_unrepresentable(arr)
    if bad is not None:
        index, target = bad
        raise ValueError(
            f"{name} has {arr[index]} at index {index}, outside the range of {target} "
            f"(JAX's default dtype for {arr.dtype} without 64-bit mode: enable "
            "jax_enable_x64 for such values); values are never wrapped or rounded to inf"
        )
    # device_put transfers once (jnp.asarray was measured 1.5x slower on a 400 MB array on
    # CPU); a 64-byte aligned host array is aliased there, not copied.
    return jax.device_put(arr)


def first_unrepresentable(arr: np.ndarray) -> tuple[tuple[int, ...], np.dtype] | None:
    """``(index, dtype)`` of the first entry of the host array ``arr`` that JAX's default
    dtype for it cannot hold, or ``None`` when every entry fits.

    Without 64-bit mode JAX converts int64 / uint64 / float64 host arrays to int32 / uint32 /
    float32: an integer outside the narrower range would silently wrap around and a finite
    float beyond it would become inf. Costs a min / max pass over 64-bit host arrays only.
    """
    target = np.dtype(jax.dtypes.canonicalize_dtype(arr.dtype))
    if target == arr.dtype or arr.size == 0 or arr.dtype.kind not in "iuf":
        return None
    if arr.dtype.kind in "iu":
        low, high = np.iinfo(target).min, np.iinfo(target).max
    else:
        low, high = -np.finfo(target).max, np.finfo(target).max
    if arr.min() >= low and arr.max() <= high:  # NaN / inf fail this and are examined below
        return None
    with np.errstate(invalid="ignore"):
        bad = (arr < low) | (arr > high)
        if arr.dtype.kind == "f":
            bad &= np.isfinite(arr)  # NaN and inf are for the finiteness checks to name
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0]), target


def common_float_dtype(*arrays: Any) -> np.dtype:
    """The widest float dtype among ``arrays``, or JAX's default float when none is a float.

    Strict dtype promotion forbids implicit ``int @ float`` and ``float32 + float64``, so the
    kernels convert every operand to this dtype explicitly (integer ratings included).
    """
    floats = [a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.floating)]
    return max(floats, key=lambda d: d.itemsize) if floats else jnp.result_type(float)


def check_ndim(name: str, x: jax.Array, ndim: int, shape_doc: str) -> None:
    if x.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc} ({ndim} dims), got shape {x.shape}")


def check_integer_dtype(name: str, x: jax.Array) -> None:
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(
            f"{name} must hold integer rating levels, got dtype {x.dtype}; "
            "use discretize() to bin continuous scores"
        )


def check_float_dtype(name: str, x: jax.Array) -> None:
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real-valued array, got dtype {x.dtype}")


def check_num_levels(num_levels: Any) -> int:
    if isinstance(num_levels, bool) or not isinstance(num_levels, int | np.integer):
        raise TypeError(f"num_levels must be an int, got {num_levels!r}")
    if num_levels < 2:
        raise ValueError(f"num_levels must be >= 2, got {num_levels}")
    return int(num_levels)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_scalar(
    name: str,
    x: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
) -> None:
    """The one scalar validator: ``x`` must be a finite real scalar (not a bool), and
    ``x > above``, ``x >= at_least``, ``x < below`` for the bounds given. Checked when
    concrete (a tracer under ``jit`` passes; see :func:`is_concrete`).

    Raises:
      TypeError: ``x`` is not a real scalar.
      ValueError: ``x`` is NaN, infinite or out of bounds; the message names ``name`` and the
        bounds, e.g. ``"l2 must be finite and >= 0, got -1.0"``.
    """
    if not is_concrete(x):
        return
    value = np.asarray(x)
    if value.ndim != 0 or value.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real scalar, got {x!r}")
    v = float(value)
    ok = math.isfinite(v)
    ok = ok and (above is None or v > above) and (at_least is None or v >= at_least)
    ok = ok and (below is None or v < below)
    if ok:
        return
    if above is not None and below is not None and at_least is None:
        raise ValueError(f"{name} must be in ({above:g}, {below:g}), got {v}")
    bounds = [f"{op} {b:g}" for op, b in ((">", above), (">=", at_least), ("<", below))
              if b is not None]
    raise ValueError(f"{name} must be finite{''.join(' and ' + b for b in bounds)}, got {v}")


def check_temperature(temperature: Any) -> None:
    """``temperature`` must be a finite number > 0 (checked when concrete)."""
    check_scalar("temperature", temperature, above=0.0)


def check_confidence(confidence: Any) -> None:
    """A confidence level ``c`` in ``(0, 1)``, a Python or NumPy number (it keys a compiled
    kernel, so it must be hashable)."""
    if isinstance(confidence, jax.Array):
        raise TypeError(f"confidence must be a Python float in (0, 1), got {confidence!r}")
    check_scalar("confidence", confidence, above=0.0, below=1.0)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_base(base: Any) -> None:
    """The logarithm base of an entropy: None (natural log) or a finite number > 1 (2 for
    bits, 10, ``math.e``). A base in (0, 1) would make entropies negative and invert ENCORE's
    order, so it is an error (ValueError, one line), as is anything that is not a number."""
    if base is None:
        return
    if isinstance(base, bool) or not isinstance(base, int | float | np.integer | np.floating):
        raise ValueError(f"base must be finite and > 1 (e.g. 2, 10 or math.e) or None for the "
                         f"natural log, got {base!r}")
    if not (math.isfinite(base) and base > 1):
        raise ValueError(f"base must be finite and > 1 (e.g. 2, 10 or math.e), got {base}; a "
                         "base below 1 turns entropies negative and inverts ENCORE's order")


def check_same_shape(name_a: str, a: jax.Array, name_b: str, b: jax.Array) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}")


def check_mask(mask: Any, shape: tuple[int, ...]) -> jax.Array | None:
    """Validates an optional boolean mask (True = observed) of the given shape."""
    if mask is None:
        return None
    mask = as_array("mask", mask)
    if mask.dtype != jnp.bool_:
        raise TypeError(f"mask must be boolean (True = observed), got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape} but ratings have shape {shape}")
    return mask


@jax.jit
def _all_finite(x: jax.Array) -> jax.Array:
    return jnp.all(jnp.isfinite(x))


@jax.jit
def _first_true(bad: jax.Array) -> jax.Array:
    """Flat index of the first ``True`` of ``bad`` (0 when none)."""
    return jnp.argmax(bad.reshape(-1))


@functools.partial(jax.jit, static_argnames="num_levels")
def _levels_bad(ratings: jax.Array, mask: jax.Array | None, num_levels: int) -> jax.Array:
    """Boolean ``[N, K]``: observed entries outside ``0..num_levels-1``, compared in the
    ratings' own dtype (a narrowing cast could wrap an invalid level into a valid one)."""
    info = jnp.iinfo(ratings.dtype)
    bad = ratings < 0 if info.min < 0 else jnp.zeros(ratings.shape, bool)
    if num_levels - 1 < info.max:
        bad = bad | (ratings > jnp.asarray(num_levels - 1, ratings.dtype))
    return bad if mask is None else bad & mask


@functools.partial(jax.jit, static_argnames="num_levels")
def _levels_ok(ratings: jax.Array, mask: jax.Array | None, num_levels: int) -> jax.Array:
    return ~jnp.any(_levels_bad(ratings, mask, num_levels))


def first_index(bad: jax.Array) -> tuple[int, ...]:
    """The index of the first ``True`` entry of the device boolean ``bad`` (one scalar moved
    to the host)."""
    with jax.ensure_compile_time_eval():
        flat = int(jax.device_get(_first_true(bad)))
    return tuple(int(i) for i in np.unravel_index(flat, bad.shape))


def device_all(ok: jax.Array) -> bool:
    """``bool(ok)`` for a scalar flag computed on the device(s): the one value a value check
    moves to the host, explicitly (``jax.device_get``: allowed by
    ``jax.transfer_guard_device_to_host("disallow")``, which catches implicit copies)."""
    return bool(jax.device_get(ok))


def concrete_flag(compute: Any, *args: Any) -> bool:
    """``compute(*args)`` (a jitted reduction to one boolean) evaluated now and read on the
    host, even while an outer ``jit`` is tracing (for concrete arrays closed over by the
    traced function: ``jax.ensure_compile_time_eval``)."""
    with jax.ensure_compile_time_eval():
        return device_all(compute(*args))


def check_finite(name: str, x: Any) -> None:
    """Raises naming the first non-finite entry of ``x`` (when concrete).

    A device array is checked by a reduction on its device(s) that moves one boolean to the
    host (and, only on failure, the index and value of the first offender); it is never
    copied whole. A host (NumPy) array is checked where it is."""
    if not is_concrete(x) or not jnp.issubdtype(x.dtype, jnp.floating):
        return
    if isinstance(x, np.ndarray):
        bad = ~np.isfinite(x)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} contains {x[index]} at index {index}; values must be "
                             "finite")
        return
    if concrete_flag(_all_finite, x):
        return
    with jax.ensure_compile_time_eval():
        index = first_index(~jnp.isfinite(x))
    raise ValueError(f"{name} contains {jax.device_get(x[index])} at index {index}; values must "
                     "be finite")


def check_levels_in_range(
    name: str, ratings: jax.Array, num_levels: int, mask: jax.Array | None
) -> None:
    """Raises naming the first observed rating outside ``0..num_levels-1`` (when concrete).

    One reduction on the ratings' device(s) moves one boolean to the host; the first
    offender's index and value are fetched only on failure."""
    if not (is_concrete(ratings) and (mask is None or is_concrete(mask))):
        return
    if ratings.size == 0 or concrete_flag(_levels_ok, ratings, mask, num_levels):
        return
    with jax.ensure_compile_time_eval():
        index = first_index(_levels_bad(ratings, mask, num_levels))
    raise ValueError(
        f"{name} has level {jax.device_get(ratings[index])} at index {index}, outside "
        f"0..{num_levels - 1} (num_levels={num_levels}); levels are never clipped"
    )


def check_any(name: str, mask: Any, message: str) -> None:
    """Raises ``ValueError(message)`` when the concrete boolean ``mask`` has no ``True``
    (a device reduction: one boolean moves to the host)."""
    if is_concrete(mask) and not concrete_flag(jnp.any, mask):
        raise ValueError(message)


def check_rules_observed(counts: jax.Array, what: str = "counts") -> None:
    """Raises naming the rules with no observation at all (when concrete)."""
    if not is_concrete(counts):
        return
    with jax.ensure_compile_time_eval():
        totals = jax.device_get(jnp.sum(counts, axis=-1))  # one total per rule
    empty = np.argwhere(totals <= 0)
    if empty.size:
        rules = [tuple(int(i) for i in row) for row in empty[:5]]
        raise ValueError(
            f"{what}: rule(s) at index {rules} have no observed ratings "
            "(every entry masked or zero rows); their entropy is undefined"
        )


def validated_pairs(
    chosen: ArrayLike,
    rejected: ArrayLike,
    num_levels: int,
    chosen_mask: ArrayLike | None,
    rejected_mask: ArrayLike | None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Checks paired integer ratings ``[N, K]`` and returns ``(chosen, rejected, observed)``
    with ``observed = chosen_mask & rejected_mask`` (all True without masks)."""
    chosen = as_array("chosen", chosen)
    rejected = as_array("rejected", rejected)
    for name, x in (("chosen", chosen), ("rejected", rejected)):
        check_ndim(name, x, 2, "[N, K]")
        check_integer_dtype(name, x)
    check_same_shape("chosen", chosen, "rejected", rejected)
    if chosen.shape[0] == 0 or chosen.shape[1] == 0:
        raise ValueError(f"chosen must have at least one pair and one rule, got {chosen.shape}")
    masks = []
    for name, m, x in (("chosen_mask", chosen_mask, chosen),
                       ("rejected_mask", rejected_mask, rejected)):
        if m is None:
            masks.append(None)
            continue
        m = as_array(name, m)
        if m.dtype != jnp.bool_ or m.shape != x.shape:
            raise ValueError(f"{name} must be boolean with shape {x.shape}, got {m.dtype} "
                             f"{m.shape}")
        masks.append(m)
    check_levels_in_range("chosen", chosen, num_levels, masks[0])
    check_levels_in_range("rejected", rejected, num_levels, masks[1])
    observed = jnp.ones(chosen.shape, bool)
    for m in masks:
        if m is not None:
            observed = observed & m
    return chosen, rejected, observed


def level_matrix(name: str, x: Any, mask: Any, num_levels: int,
                 shape: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """``(int32 levels [rows, K], boolean mask)`` of ``x`` checked: integer ``[rows, K]``
    (``K`` as ``shape[1]`` when given), a boolean ``mask`` of its shape (default all True),
    every masked level in ``0..num_levels - 1`` (never clipped). Errors name ``name``."""
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} must be integer levels [rows, K], got {x.dtype} {x.shape}")
    if shape is not None and x.shape[1:] != shape[1:]:
        raise ValueError(f"{name} has {x.shape[1]} rules, chosen has {shape[1]}")
    m = np.ones(x.shape, bool) if mask is None else np.asarray(mask)
    if m.dtype != np.bool_ or m.shape != x.shape:
        raise ValueError(f"the mask of {name} must be boolean {x.shape}, got {m.dtype} "
                         f"{m.shape}")
    bad = m & ((x < 0) | (x >= num_levels))
    if bad.any():
        i, k = map(int, np.argwhere(bad)[0])
        raise ValueError(f"{name}[{i}, {k}] = {x[i, k]} is outside 0..{num_levels - 1}; pass "
                         "the right num_levels (levels are never clipped)")
    return x.astype(np.int32), m
