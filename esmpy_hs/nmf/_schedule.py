"""The iteration schedule shared by every driver of the esmpy updates.

One schedule decides, for the in-memory estimator and for the chunked (dask) driver alike,
when the objective is evaluated, when the change of W and H is measured, when the fit stops and
why, and it runs the progress bar, the user's callback and the Ctrl-C handling. A driver only
supplies ``step``, one iteration of its own (a fused sweep over the pixels in memory, or a map
over chunks), so the two drivers cannot drift apart.

Stopping rule: the relative change of W and H per iteration is measured every
``min(CHECK_EVERY, eval_every)`` iterations; the objective (a log per non-zero count, the
costly part) every ``eval_every`` iterations and right after a W/H check that passed, to
confirm. The fit has converged when both relative changes per iteration are below their
tolerances.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from esmpy_hs.nmf._solver import relative_change

__all__ = ["CHECK_EVERY", "run_schedule"]

logger = logging.getLogger(__name__)

#: iterations between two measurements of the W/H change (at most ``eval_every``)
CHECK_EVERY = 10

#: ``step(W, eval_loss, track) -> (W_new, objective_or_None, h_change_or_None, H_for_callback)``
Step = Callable[[np.ndarray, bool, bool], tuple[np.ndarray, float | None, float | None, Any]]


def run_schedule(est: Any, W: np.ndarray, step: Step, *, desc: str = "EsmpyNMF") -> np.ndarray:
    """Iterate ``step`` under the estimator's stopping rules; return the final W.

    Parameters
    ----------
    est : EsmpyNMF
        Supplies ``max_iter``, ``eval_every``, the tolerances, ``callback``, ``verbose`` and
        ``show_progressbar``; receives ``losses_``, ``loss_iterations_``, ``stop_reason_`` and
        ``n_iter_``.
    W : ndarray of shape (n_G, k)
        Starting element weights.
    step : callable
        ``step(W, eval_loss, track)`` runs one iteration (H step, then W step) and returns the
        new W, the objective at the iteration's start factors when ``eval_loss`` (else None),
        the relative change of H since the previous ``track`` iteration when ``track`` (else
        None), and what the callback receives as H (the abundances, pixels × k, or None).
    desc : str
        Label of the progress bar.

    Returns
    -------
    ndarray
        The element weights after the last iteration.
    """
    from tqdm.auto import tqdm

    t_obj, t_par = est._tolerances()
    every = int(est.eval_every)
    check = min(CHECK_EVERY, every)
    est.losses_, est.loss_iterations_ = [], []
    est.stop_reason_ = "max_iter"
    W_ref, it_ref = W.copy(), 0
    F_prev, it_F = None, 0
    want_obj, d_par = False, math.inf
    it = 0
    level = logging.INFO if est.verbose else logging.DEBUG
    bar = tqdm(total=est.max_iter, desc=desc, disable=not est.show_progressbar, leave=False)
    try:
        while it < est.max_iter:
            it += 1
            obj_now = it % every == 0 or it == est.max_iter or want_obj
            track = it % check == 0
            W, F, h_change, H_for_callback = step(W, obj_now, track)
            if obj_now:
                est.losses_.append(F)
                est.loss_iterations_.append(it)
            bar.update(1)
            if est.callback is not None and est.callback(it, W, H_for_callback, F):
                est.stop_reason_ = "callback"
                break
            if obj_now:
                d_obj = (
                    math.inf
                    if F_prev is None
                    else abs(F_prev - F) / max(abs(F), 1e-300) / (it - it_F)
                )
                logger.log(
                    level,
                    "iteration %d: objective %.10g, rel. change per iteration: "
                    "objective %.3g, W/H %.3g",
                    it,
                    F,
                    d_obj,
                    d_par,
                )
                if est.show_progressbar:
                    bar.set_postfix(loss=f"{F:.6g}", dWH=f"{d_par:.2g}")
                if want_obj and d_obj < t_obj and d_par < t_par:
                    est.stop_reason_ = "converged"
                    break
                want_obj = False
                F_prev, it_F = F, it
            if track:
                d_par = max(relative_change(W, W_ref), h_change) / (it - it_ref)
                W_ref, it_ref = W.copy(), it
                want_obj = d_par < t_par
    except KeyboardInterrupt:
        est.stop_reason_ = "interrupted"
        warnings.warn(
            f"EsmpyNMF interrupted at iteration {it}: returning the current iterate",
            RuntimeWarning,
            stacklevel=4,
        )
    finally:
        bar.close()
    est.n_iter_ = it
    return W
