"""``sim profile adaptation``: the accuracy surface of the model-update loop.

A device (student) model and an edge (teacher) model are trained on clean data.
For each corruption and severity, a shifted stream arrives in batches of 32:

* the teacher is fine-tuned on each batch without labels (its normalisation
  statistics follow the batch and one entropy-minimisation step updates its
  normalisation affine parameters, as Tent and CEMA do);
* the student is distilled from the updated teacher on the same batch (KL
  divergence to the teacher's softmax, statistics in train mode);
* the payload is ordered: normalisation layers first (affine parameters and running
  statistics), then the other tensors from the output backwards.  For a delivered
  fraction phi, the student distilled is the one whose trainable parameters are the
  first phi of that order (the rest keep the device's values), so what is delivered
  is exactly what was distilled; phi = 1 distils every parameter.  After D samples the
  device model is evaluated on held-out shifted data: top-1 accuracy and mAP (mean
  over classes of one-vs-rest average precision), and so is the adapted teacher.

The trace holds the surface over D x phi, the per-batch curve (full and
normalisation-only delivery after every batch), and the device model's entropy and
the cosine similarity of its prediction to a running average, per stream sample,
which CEMA's upload filters need.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sim import atomic
from sim.profiling.common import provenance, setup_torch
from sim.traces import CEMA_REDUNDANCY_MARGIN, cema_filter

FORMAT = "sim.adaptation/1"
BATCH = 32


def payload_order(torch, model) -> list[tuple[str, int]]:
    """State tensors in delivery order with their bytes: normalisation layers first,
    then the remaining tensors from the output backwards."""
    state = model.state_dict()
    norm_prefixes = {n for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    names = [k for k, v in state.items() if v.dtype.is_floating_point]
    is_norm = lambda k: k.rsplit(".", 1)[0] in norm_prefixes  # noqa: E731
    order = [k for k in names if is_norm(k)] + [k for k in reversed(names) if not is_norm(k)]
    return [(k, state[k].numel() * state[k].element_size()) for k in order]


def deliver(torch, old: dict, new: dict, order: list[tuple[str, int]], phi: float) -> tuple[dict, float, int]:
    """The device's state after receiving the first ``phi`` of the payload (whole tensors)."""
    total = sum(b for _, b in order)
    state = {k: v.clone() for k, v in old.items()}
    sent = 0
    for name, nbytes in order:
        if sent + nbytes > phi * total + 1e-9:
            break
        state[name] = new[name].clone()
        sent += nbytes
    return state, sent / total, sent


def evaluate(torch, model, state: dict, x, y: np.ndarray) -> tuple[float, float]:
    from sim.profiling.train import batched, mean_average_precision

    model.load_state_dict(state)
    model.eval()
    probs = batched(lambda xb: torch.softmax(model(xb), 1), x).numpy()
    return float((probs.argmax(1) == y).mean()), mean_average_precision(probs, y)


def stream_filters(torch, model, x, ema: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, in stream order: the model's entropy and the cosine similarity of its
    prediction to the running average of earlier predictions (EATA/CEMA redundancy)."""
    from sim.profiling.train import batched, entropy_nats

    model.eval()
    probs = batched(lambda xb: torch.softmax(model(xb), 1), x)
    ent = entropy_nats(probs).numpy()
    cos = np.zeros(len(x), dtype=np.float64)
    avg = None
    for i, p in enumerate(probs.numpy().astype(np.float64)):
        cos[i] = 0.0 if avg is None else float(p @ avg / (np.linalg.norm(p) * np.linalg.norm(avg) + 1e-12))
        avg = p if avg is None else ema * avg + (1 - ema) * p
    return ent, cos


def stream_predictions(torch, model, x) -> np.ndarray:
    """The model's softmax over the stream, per sample in stream order (CEMA's filters run on it)."""
    from sim.profiling.train import batched

    model.eval()
    with torch.no_grad():
        return batched(lambda xb: torch.softmax(model(xb), 1), x).numpy().astype(np.float64)


def prefix_names(order: list[tuple[str, int]], phi: float) -> set[str]:
    """The state tensors inside the first ``phi`` of the payload (whole tensors)."""
    total = sum(b for _, b in order)
    names, sent = set(), 0
    for name, nbytes in order:
        if sent + nbytes > phi * total + 1e-9:
            break
        names.add(name)
        sent += nbytes
    return names


def adapt_condition(torch, student0, teacher0, xs, x_eval, y_eval, x_curve, y_curve, d_grid, phi_grid,
                    order, lr_teacher: float, lr_student: float, seed: int, curves: bool = True,
                    teacher_eval: bool = True, cross: dict | None = None, cross_grid: tuple[int, ...] = (),
                    unadapted: dict | None = None):
    """One shifted stream: returns (surface rows, curve rows, cross rows).

    ``curves`` False: no per-batch curve; ``teacher_eval`` False: the teacher is not evaluated
    (its columns are absent); ``cross``: {other condition: (x, y)} evaluation sets on which
    the delivered students are evaluated too after each ``D`` in ``cross_grid`` (the
    cross-condition matrix: a model adapted to this condition serving under another);
    ``unadapted``: a cache of the device model as trained on each other condition (at D = 0
    every delivered student is that model), shared across conditions.

    One distilled student per delivered fraction phi > 0: only the parameters inside
    the first phi of the payload are trained (the rest stay at the device's values),
    so the delivered prefix is exactly the model the edge distilled."""
    import torch.nn.functional as F

    from sim.profiling.train import entropy_nats

    torch.manual_seed(seed)
    teacher = copy.deepcopy(teacher0)
    old = {k: v.clone() for k, v in student0.state_dict().items()}
    norm_params = [p for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()]
    for p in teacher.parameters():
        p.requires_grad_(False)
    for p in norm_params:
        p.requires_grad_(True)
    opt_t = torch.optim.SGD(norm_params, lr=lr_teacher, momentum=0.9)
    students, trained = {}, {}
    for phi in phi_grid:
        if phi <= 0:
            continue
        keep = frozenset(prefix_names(order, phi))
        if keep in trained:  # same deliverable tensors as a smaller phi: the same student
            students[phi] = trained[keep]
            continue
        st = copy.deepcopy(student0)
        trainable = [p for n, p in st.named_parameters() if n in keep]
        for n, p in st.named_parameters():
            p.requires_grad_(n in keep)
        students[phi] = trained[keep] = (st, torch.optim.Adam(trainable, lr=lr_student) if trainable else None)
    surface, curve, cross_rows = [], [], []
    probe, t_probe = copy.deepcopy(student0), copy.deepcopy(teacher0)
    norm_phi = next((f for f in phi_grid if 0 < f < 1), None)

    def delivered(phi: float):
        if phi <= 0:
            return old, 0.0, 0
        return deliver(torch, old, students[phi][0].state_dict(), order, phi)

    def snapshot(d: int):
        t = {}
        if teacher_eval:
            t_acc, t_map = evaluate(torch, t_probe, teacher.state_dict(), x_eval, y_eval)
            t = {"teacher_accuracy": t_acc, "teacher_map": t_map}
        for phi in phi_grid:
            state, frac, nbytes = delivered(phi)
            acc, m = evaluate(torch, probe, state, x_eval, y_eval)
            surface.append({"samples": d, "phi": phi, "phi_delivered": frac, "payload_bytes": nbytes,
                            "accuracy": acc, "map": m, **t})
        if cross and d in cross_grid:
            done: dict = unadapted if d == 0 and unadapted is not None else {}  # same tensors: same values
            for phi in phi_grid:
                state, _, nbytes = delivered(phi)
                for other, (xo, yo) in cross.items():
                    key = (0 if d == 0 else nbytes, other)
                    if key not in done:
                        done[key] = evaluate(torch, probe, state, xo, yo)
                    acc, m = done[key]
                    cross_rows.append({"samples": d, "phi": phi, "target": other, "accuracy": acc, "map": m})

    if 0 in d_grid:
        snapshot(0)
    for b in range(max(d_grid) // BATCH):
        xb = xs[b * BATCH:(b + 1) * BATCH]
        teacher.train()
        loss_t = entropy_nats(torch.softmax(teacher(xb), 1)).mean()
        opt_t.zero_grad()
        loss_t.backward()
        opt_t.step()
        with torch.no_grad():
            target = torch.softmax(teacher(xb), 1)
        for st, opt in trained.values():
            st.train()
            if opt is None:  # nothing trainable: statistics follow the batch
                with torch.no_grad():
                    st(xb)
                continue
            for _ in range(2):
                opt.zero_grad()
                F.kl_div(F.log_softmax(st(xb), 1), target, reduction="batchmean").backward()
                opt.step()
        d = (b + 1) * BATCH
        if d in d_grid:
            snapshot(d)
        if not curves:
            continue
        full_acc, full_map = evaluate(torch, probe, delivered(1.0)[0], x_curve, y_curve)
        norm_acc, norm_map = evaluate(torch, probe, delivered(norm_phi)[0], x_curve, y_curve) if norm_phi else (0, 0)
        curve.append({"batch": b + 1, "samples": d, "accuracy_full": full_acc, "map_full": full_map,
                      "accuracy_norm": norm_acc, "map_norm": norm_map})
    return surface, curve, cross_rows


def profile_adaptation(data_path: str | None, out: Path, train_n: int = 20000, epochs: int = 1,
                       teacher_epochs: int = 2, corruptions: tuple[str, ...] | None = None,
                       severities: tuple[int, ...] = (1, 2, 3, 4, 5),
                       d_grid: tuple[int, ...] = (0, 32, 64, 128, 256, 512, 1024),
                       phi_grid: tuple[float, ...] | None = None, eval_n: int = 1000, curve_n: int = 500,
                       lr_teacher: float = 1e-3, lr_student: float = 1e-3, seed: int = 0, threads: int = 1,
                       say: Callable[[str], None] = lambda s: None, cross_samples: tuple[int, ...] = (0, 128, 1024),
                       cross_eval_n: int = 250, filtered_benefit: bool = True) -> dict:
    torch = setup_torch(threads)
    from sim.profiling import data as data_mod
    from sim.profiling import meanet
    from sim.profiling.exits import pick_variant
    from sim.profiling.train import (CORRUPTIONS, batched, condition_seed, corrupt, fit, split, to_tensor)

    phi_needed = phi_grid or (1.0,)
    if 1.0 not in phi_needed:
        raise ValueError("the phi grid must contain 1.0 (full delivery)")
    if any(d % BATCH for d in d_grid):
        raise ValueError(f"sample counts must be multiples of the batch size {BATCH}")
    t0 = time.perf_counter()
    data = data_mod.load(data_path)
    main_name, teacher_name = pick_variant(data)
    tr, _, _ = split(data, train_n, 0, 0, seed)
    x, y = to_tensor(data.x_train[tr]), torch.from_numpy(data.y_train[tr])
    torch.manual_seed(seed)
    student = meanet.variant(main_name, data.x_train.shape[-1], data.classes)[0]
    torch.manual_seed(seed + 1)  # the teacher's initialisation does not depend on the student variant's other blocks
    teacher = meanet.cloud_model(teacher_name, data.x_train.shape[-1], data.classes)
    fit(student, x, y, epochs, seed, progress=say, label=f"student {main_name} main block")
    fit(teacher, x, y, teacher_epochs, seed + 2, progress=say, label=f"teacher {teacher_name}")
    order = payload_order(torch, student)
    total = sum(b for _, b in order)
    norm_bytes = sum(b for k, b in order if _is_norm(torch, student, k))
    norm_frac = norm_bytes / total
    phis = tuple(phi_grid) if phi_grid else (0.0, round(norm_frac + 1e-6, 6), 0.1, 0.25, 0.5, 1.0)

    # stream and evaluation images are disjoint parts of the test set
    perm = np.random.default_rng(seed + 11).permutation(len(data.x_test))
    n_stream = max(d_grid)
    s_idx, e_idx = perm[:n_stream], perm[n_stream:n_stream + eval_n]
    c_idx = e_idx[:curve_n]
    clean_eval = to_tensor(data.x_test[e_idx])
    y_eval = data.y_test[e_idx]
    clean = {name: float((batched(m, clean_eval).argmax(1).numpy() == y_eval).mean())
             for name, m in (("student", student), ("teacher", teacher))}
    say(f"clean accuracy: student {clean['student']:.4f}, teacher {clean['teacher']:.4f}; "
        f"payload {total} bytes, normalisation {norm_bytes} bytes ({norm_frac:.4f})")
    surface, curves, filters, filtered, cross = [], [], {}, [], []
    conds = [(c, s) for c in corruptions or CORRUPTIONS for s in severities]
    streams, evals = {}, {}
    for corruption, severity in conds:
        cs = condition_seed(seed, corruption, severity)
        streams[(corruption, severity)] = to_tensor(corrupt(data.x_test[s_idx], corruption, severity, cs))
        evals[(corruption, severity)] = to_tensor(corrupt(data.x_test[e_idx], corruption, severity, cs + 1))
    cross_grid = tuple(d for d in cross_samples if d in d_grid)
    cross_n = min(cross_eval_n, len(e_idx))
    norm_phi = phis[1] if len(phis) > 2 else None
    unadapted: dict = {}
    for corruption, severity in conds:
        say(f"adaptation: {corruption} severity {severity}")
        cs = condition_seed(seed, corruption, severity)
        xs, xe = streams[(corruption, severity)], evals[(corruption, severity)]
        others = {f"{c}/{v}": (evals[(c, v)][:cross_n], y_eval[:cross_n])
                  for c, v in conds if (c, v) != (corruption, severity)} if cross_grid else None
        rows, curve, crossed = adapt_condition(torch, student, teacher, xs, xe, y_eval, xe[:curve_n],
                                               data.y_test[c_idx], d_grid, phis, order, lr_teacher, lr_student,
                                               cs, cross=others, cross_grid=cross_grid, unadapted=unadapted)
        tag = {"corruption": corruption, "severity": severity}
        surface += [{**tag, **r} for r in rows]
        curves += [{**tag, **r} for r in curve]
        cross += [{**tag, **r} for r in crossed]
        ent, cos = stream_filters(torch, student, xs)
        probs = stream_predictions(torch, student, xs)
        filters[f"{corruption}/{severity}"] = {"entropy_nats": np.round(ent, 5).tolist(),
                                               "cosine_to_average": np.round(cos, 5).tolist(),
                                               "predictions": np.round(probs, 4).tolist()}
        if norm_phi is None or not filtered_benefit:
            continue
        # CEMA's filtered stream: the same adaptation on the samples its filters keep (at the
        # default margin), delivering the normalisation unit: what a filtered sample is worth
        kept, _ = cema_filter(probs, ent, data.classes)
        xf = xs[torch.from_numpy(np.flatnonzero(kept))]
        top = BATCH * (len(xf) // BATCH)
        f_grid = tuple(sorted({d for d in d_grid if d <= top} | ({top} if top else set())))
        rows, _, _ = adapt_condition(torch, student, teacher, xf, xe, y_eval, None, None, f_grid,
                                     (0.0, norm_phi), order, lr_teacher, lr_student, cs, curves=False,
                                     teacher_eval=False)
        filtered += [{**tag, "kept": int(sum(kept)), "stream": len(kept), **r} for r in rows]
    setup = {"student": main_name, "teacher": teacher_name, "classes": data.classes, "batch_size": BATCH,
             "train_samples": int(len(tr)), "epochs": epochs, "teacher_epochs": teacher_epochs,
             "eval_samples": int(len(e_idx)), "curve_samples": int(len(c_idx)), "stream_samples": int(n_stream),
             "clean_accuracy": clean, "payload_bytes": total, "norm_payload_bytes": norm_bytes,
             "payload_order": [[k, b] for k, b in order], "samples_grid": list(d_grid), "phi_grid": list(phis),
             "lr_teacher": lr_teacher, "lr_student": lr_student, "sample_bytes": int(data.x_test[0].nbytes),
             "cross_samples_grid": [d for d in cross_samples if d in d_grid], "cross_eval_samples": int(min(cross_eval_n, len(e_idx))),
             "filtered_margin": CEMA_REDUNDANCY_MARGIN}
    trace = {"format": FORMAT,
             "provenance": provenance(threads, seed, data.name, data.sha256(), wall_s=round(time.perf_counter() - t0, 1)),
             "setup": setup, "surface": surface, "curves": curves, "stream_filters": filters,
             "filtered_surface": filtered, "cross": cross}
    atomic.write_json(out, trace, compact=True)
    return trace


def _is_norm(torch, model, key: str) -> bool:
    mods = dict(model.named_modules())
    return isinstance(mods.get(key.rsplit(".", 1)[0]), torch.nn.modules.batchnorm._BatchNorm)
