"""``sim profile exits``: train a MEANet-style network and write one exit record per test input.

1. The main block (a small ResNet with its own exit) is trained on the training subset
   until its accuracy on a held-out validation subset stops improving (:func:`fit_early`;
   so are the other blocks).
2. Hard classes: the half of the classes with the lowest accuracy of the trained main
   block on the held-out validation subset (as MEANet's code chooses them).
3. The adaptive and extension blocks are trained on hard-class training samples,
   the main block frozen; the extension block classifies the hard classes only.
4. A larger cloud network is trained on the same training subset.
5. Each test input, clean and under every corruption and severity, gets a record:
   main-block entropy and confidence, predictions and correctness at the main
   block, the extension block and the cloud model.
6. With ``precisions`` (``--precisions int8,int4,binary``): the same records of copies of
   the device blocks at those precisions (:mod:`sim.profiling.quantise`; column
   ``precision``), of the same inputs, hard classes and cloud model: int8 quantised after
   training, int4 and binary quantised and then fine-tuned (:func:`low_precision`).  They
   are made from the training data also when the fp32 blocks are loaded (``load_network``).

The network's own accuracy under MEANet routing (entropy > threshold -> cloud; else
predicted class easy -> main exit; else extension) is measured by a cascaded forward
pass and stored in the trace metadata, so the records can be checked against it.

With ``adapt_samples`` (``--adapt-samples N1,N2,...``) the trace also holds the records of
*adapted* device blocks (column ``adapted_samples``; 0 = the blocks as trained): for each
condition and each N, copies of the main, adaptive and extension blocks get their
normalisation statistics (BatchNorm running means and variances) recomputed on the first
N images of an unlabelled stream of that condition, in batches of 32, main block first
(its features then feed the extension block); weights and affine parameters stay as
trained, and the cloud model is not touched.  This is what an update of a MEANet device
delivers in the simulator: its payload is the normalisation tensors of the three blocks
(``adaptation.payload_bytes``).  The stream images are test images that are not record
inputs, corrupted with another seed; the per-sample entropy and redundancy of the
unadapted main block over the stream (``stream_filters``, as in ``sim profile
adaptation``) give CEMA's upload filters their pass fraction.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sim import atomic
from sim.profiling.common import provenance, setup_torch

FORMAT = "sim.exits/1"
ADAPT_BATCH = 32  # adaptation samples per batch, as the update loop uploads them


def pick_variant(data) -> tuple[str, str]:
    h, w, c = data.x_train.shape[1:]
    return ("meanet_mnist", "mnist_cloud_resnet14") if (h, c) == (28, 1) else ("meanet_cifar_resnet32", "cifar_cloud_resnet56")


class MEANet:
    """The trained blocks and the routing rule; ``route(x)`` is the cascaded forward pass."""

    def __init__(self, torch, main, adapt, ext, cloud, hard: list[int], classes: int, threshold: float):
        self.torch, self.main, self.adapt, self.ext, self.cloud = torch, main, adapt, ext, cloud
        self.hard = torch.tensor(hard)
        self.is_hard = torch.zeros(classes, dtype=torch.bool)
        self.is_hard[self.hard] = True
        self.threshold = threshold

    def route(self, x):
        """(prediction, exit) per input: exit 0 main, 1 extension, 2 cloud."""
        from sim.profiling.train import entropy_nats

        torch = self.torch
        with torch.inference_mode():
            f = self.main.features(x)
            p = torch.softmax(self.main.head(f), 1)
            pred = p.argmax(1)
            exit_ = torch.zeros(len(x), dtype=torch.long)
            complex_ = entropy_nats(p) > self.threshold
            hard = ~complex_ & self.is_hard[pred]
            exit_[hard], exit_[complex_] = 1, 2
            if hard.any():
                pred[hard] = self.hard[self.ext(f[hard], self.adapt(x[hard])).argmax(1)]
            if complex_.any():
                pred[complex_] = self.cloud(x[complex_]).argmax(1)
        return pred, exit_

    def records(self, x, cloud: dict | None = None):
        """Per-input outputs of every block, computed independently of the routing; ``cloud``:
        the cloud columns already computed for these inputs (the cloud model is shared)."""
        from sim.profiling.train import batched, entropy_nats

        torch = self.torch
        with torch.inference_mode():
            feats = batched(self.main.features, x)
            p_main = batched(lambda f: torch.softmax(self.main.head(f), 1), feats)
            p_ext = torch.cat([torch.softmax(self.ext(feats[k:k + 500], self.adapt(x[k:k + 500])), 1)
                               for k in range(0, len(x), 500)])
            if cloud is None:
                p_cloud = batched(lambda xb: torch.softmax(self.cloud(xb), 1), x)
                cloud = {"cloud_confidence": p_cloud.max(1).values.numpy(), "cloud_pred": p_cloud.argmax(1).numpy()}
        return {
            "main_entropy_nats": entropy_nats(p_main).numpy(),
            "main_confidence": p_main.max(1).values.numpy(),
            "main_pred": p_main.argmax(1).numpy(),
            "ext_confidence": p_ext.max(1).values.numpy(),
            "ext_entropy_nats": entropy_nats(p_ext).numpy(),
            "ext_pred": self.hard[p_ext.argmax(1)].numpy(),
            **cloud,
        }

    def norms(self) -> list:
        """The normalisation layers of the device blocks (main, adaptive, extension)."""
        bn = self.torch.nn.modules.batchnorm._BatchNorm
        return [m for block in (self.main, self.adapt, self.ext) for m in block.modules() if isinstance(m, bn)]

    def payload_bytes(self) -> int:
        """Bytes of what an update delivers: the normalisation tensors (affine parameters and
        running statistics) of the three device blocks."""
        return int(sum(t.numel() * t.element_size() for m in self.norms() for t in m.state_dict().values()
                       if t.dtype.is_floating_point))

    def adapted(self, xs, batch: int = 32) -> "MEANet":
        """Copies of the device blocks with their normalisation statistics recomputed on the
        unlabelled stream ``xs`` (cumulative averages over batches of ``batch``): the main block
        first, then the adaptive and extension blocks on the adapted main block's features.
        Weights and affine parameters are unchanged; the cloud model is the same object."""
        net = copy.copy(self)
        net.main, net.adapt, net.ext = (copy.deepcopy(b) for b in (self.main, self.adapt, self.ext))
        recompute_norms(self.torch, [net.main], net.main.features, xs, batch)
        recompute_norms(self.torch, [net.adapt, net.ext], lambda xb: net.ext(net.main.features(xb), net.adapt(xb)),
                        xs, batch)
        return net


def recompute_norms(torch, blocks, forward: Callable, xs, batch: int) -> None:
    """Recompute the normalisation statistics (BatchNorm running means and variances) of
    ``blocks`` as cumulative averages over ``forward`` of ``xs`` in batches of ``batch``;
    weights and affine parameters unchanged; the normalisation layers left in evaluation mode."""
    bn = torch.nn.modules.batchnorm._BatchNorm
    norms = [m for b in blocks for m in b.modules() if isinstance(m, bn)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
        m.train()
    with torch.no_grad():
        for k in range(0, len(xs), batch):
            forward(xs[k:k + batch])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        m.eval()


def fit_early(torch, model, x, y, xv, yv, max_epochs: int, patience: int, seed: int, say: Callable[[str], None],
              label: str, forward: Callable | None = None, lr: float = 2e-3, batch: int = 128,
              settle: Callable[[], None] | None = None) -> dict:
    """Cross-entropy training with Adam until the held-out accuracy (``xv``, ``yv``) stops
    improving: after each epoch the held-out accuracy is measured; an epoch without
    improvement halves the learning rate, ``patience`` of them in a row stop the training
    (or ``max_epochs``); the weights of the best epoch are kept.  ``forward(xb)`` defaults
    to ``model(xb)``; ``settle()``, if given, runs before each held-out measurement.  Returns
    the epochs run, the best epoch, the held-out accuracy per epoch and the seconds taken."""

    from sim.profiling.train import batched, train_epoch

    forward = forward or model
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    best_acc, best_state, best_epoch, since, history = -1.0, None, 0, 0, []
    t0 = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        model.train()
        total = train_epoch(forward, opt, x, y, batch, g)
        model.eval()
        if settle is not None:
            settle()
        acc = float((batched(forward, xv).argmax(1) == yv).float().mean())
        history.append(round(acc, 5))
        if acc > best_acc:
            best_acc, best_state, best_epoch, since = acc, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            since += 1
            for group in opt.param_groups:
                group["lr"] /= 2
        say(f"{label} epoch {epoch}/{max_epochs}: loss {total / len(x):.4f}, held-out accuracy {acc:.4f}")
        if since >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return {"epochs_run": epoch, "best_epoch": best_epoch, "max_epochs": max_epochs, "patience": patience,
            "held_out_accuracy": round(best_acc, 5), "held_out_accuracy_per_epoch": history,
            "seconds": round(time.perf_counter() - t0, 1)}


def train_meanet(torch, data, train_n: int, val_n: int, epochs: int, cloud_epochs: int, threshold: float,
                 seed: int, say: Callable[[str], None], patience: int = 3,
                 model: str | None = None) -> tuple[MEANet, dict, np.ndarray]:
    """Train the blocks (each until its held-out accuracy stops improving, at most ``epochs``
    / ``cloud_epochs``; see :func:`fit_early`)."""
    from sim.profiling import meanet
    from sim.profiling.train import batched

    main_name, cloud_name = pick_variant(data)
    main_name = model or main_name
    x, y, xv, yv, tr, va, te = training_data(torch, data, train_n, val_n, seed)
    torch.manual_seed(seed)
    main, adapt, ext, _ = meanet.variant(main_name, data.x_train.shape[-1], data.classes)
    training = {"main": fit_early(torch, main, x, y, xv, yv, epochs, patience, seed, say, "main block")}
    pred_v = batched(main, xv).argmax(1)
    per_class = [float((pred_v[yv == c] == c).float().mean()) if (yv == c).any() else 1.0 for c in range(data.classes)]
    hard = sorted(sorted(range(data.classes), key=lambda c: (per_class[c], c))[: data.classes // 2])
    say(f"hard classes {hard} (held-out accuracy of the main block per class: "
        + ", ".join(f"{a:.3f}" for a in per_class) + ")")

    for p in main.parameters():
        p.requires_grad_(False)
    main.eval()
    to_hard, mask, mask_v = hard_split(torch, hard, data.classes, y, yv)
    blocks = torch.nn.ModuleDict({"adapt": adapt, "ext": ext})
    training["adaptive_extension"] = fit_early(
        torch, blocks, x[mask], to_hard[y[mask]], xv[mask_v], to_hard[yv[mask_v]], epochs, patience, seed + 1, say,
        "adaptive + extension blocks (hard classes)", forward=ext_forward_of(torch, main, adapt, ext))
    cloud = meanet.cloud_model(cloud_name, data.x_train.shape[-1], data.classes)
    training["cloud"] = fit_early(torch, cloud, x, y, xv, yv, cloud_epochs, patience, seed + 2, say,
                                  f"cloud model {cloud_name}")
    info = {"main_model": main_name, "cloud_model": cloud_name, "hard_classes": hard,
            "hard_classes_rule": "the half of the classes with the lowest held-out accuracy of the trained main block",
            "main_validation_accuracy_per_class": per_class, "main_validation_accuracy": training["main"]["held_out_accuracy"],
            "entropy_threshold_nats": threshold,
            "train_samples": int(len(tr)), "validation_samples": int(len(va)), "epochs": training["main"]["epochs_run"],
            "cloud_epochs": training["cloud"]["epochs_run"], "max_epochs": epochs, "max_cloud_epochs": cloud_epochs,
            "patience": patience,
            "training": {**training, "rule": "Adam (lr 2e-3, batch 128); the learning rate halves after an epoch "
                                             "without a better held-out accuracy; stops after `patience` such "
                                             "epochs in a row or at the maximum; the best epoch's weights kept; "
                                             "held out: the validation subset (hard-class samples of it for the "
                                             "adaptive + extension blocks)"}}
    net = MEANet(torch, main, adapt, ext, cloud, hard, data.classes, threshold)
    return net, info, te


def training_data(torch, data, train_n: int, val_n: int, seed: int):
    """The training and held-out validation tensors ``x, y, xv, yv`` and the indices ``tr, va, te``."""
    from sim.profiling.train import split, to_tensor

    tr, va, te = split(data, train_n, val_n, 0, seed)
    x, y = to_tensor(data.x_train[tr]), torch.from_numpy(data.y_train[tr])
    xv, yv = to_tensor(data.x_train[va]), torch.from_numpy(data.y_train[va])
    return x, y, xv, yv, tr, va, te


def hard_split(torch, hard: list[int], classes: int, y, yv):
    """``to_hard`` (class -> index among the hard classes, -1 for the others) and the masks of the
    hard-class training and held-out samples."""
    hard_t = torch.tensor(hard)
    to_hard = torch.full((classes,), -1, dtype=torch.long)
    to_hard[hard_t] = torch.arange(len(hard))
    return to_hard, torch.isin(y, hard_t), torch.isin(yv, hard_t)


def ext_forward_of(torch, m, a, e):
    """The adaptive + extension blocks' forward pass on the (frozen) main block's features."""
    def forward(xb):
        with torch.no_grad():
            f = m.features(xb)
        return e(f, a(xb))
    return forward


def _load_network(torch, path: Path, data, settings: dict, threshold: float) -> tuple[MEANet, dict]:
    from sim.profiling import meanet

    saved = torch.load(path, weights_only=False)
    if saved["settings"] != settings:
        diff = {k: (saved["settings"].get(k), v) for k, v in settings.items() if saved["settings"].get(k) != v}
        raise ValueError(f"{path} was trained with other settings (saved, now): {diff}")
    info = dict(saved["info"], entropy_threshold_nats=threshold)
    main, adapt, ext, _ = meanet.variant(info["main_model"], data.x_train.shape[-1], data.classes)
    cloud = meanet.cloud_model(info["cloud_model"], data.x_train.shape[-1], data.classes)
    for block, key in ((main, "main"), (adapt, "adapt"), (ext, "ext"), (cloud, "cloud")):
        block.load_state_dict(saved[key])
        block.eval()
    return MEANet(torch, main, adapt, ext, cloud, info["hard_classes"], data.classes, threshold), info


FINE_TUNE_LR = {"int4": 1e-4, "binary": 1e-3}  # Adam's learning rates of the fine-tuning (the fp32 training's: 2e-3)
NORM_SAMPLES = 2000  # training images the fine-tuned blocks' normalisation statistics are recomputed on


def binary_float_layers(main, adapt, ext) -> list[set[str]]:
    """The layers a binary MEANet keeps in floating point, per block: those that see the raw
    image (the first layer of the main and adaptive blocks) and the classifiers (the last
    linear layer of the main and extension blocks)."""
    from torch import nn

    from sim.profiling.quantise import layer_names

    return [{layer_names(main)[0], layer_names(main, nn.Linear)[-1]}, {layer_names(adapt)[0]},
            {layer_names(ext, nn.Linear)[-1]}]


def low_precision(torch, net: MEANet, precision: str, x, y, xv, yv, mask, mask_v, to_hard, fine_tune_epochs: int,
                  patience: int, seed: int, say, lr: float | None = None) -> tuple[MEANet, dict]:
    """The device blocks at ``precision`` (:mod:`sim.profiling.quantise`): quantised after
    training (int8), or quantised after training and then fine-tuned with a straight-through
    estimator (int4, binary: the main block, then the adaptive + extension blocks on the hard
    classes, each with early stopping, at most ``fine_tune_epochs``, Adam at ``lr``, default
    :data:`FINE_TUNE_LR`; binary keeps the first and last layers in floating point,
    :func:`binary_float_layers`).  The cloud model and the hard classes stay those of the
    fp32 network."""
    from sim.profiling import quantise
    from sim.profiling.train import batched

    cal = x[:1000]

    def calibrate(blocks):
        m, a, e = blocks
        f = m.features(cal)
        m.head(f)
        e(f, a(cal))

    t0 = time.perf_counter()
    keep = binary_float_layers(net.main, net.adapt, net.ext) if precision == "binary" else None
    main, adapt, ext = quantise.quantised([net.main, net.adapt, net.ext], precision, calibrate, keep)
    q = copy.copy(net)
    q.main, q.adapt, q.ext = main, adapt, ext
    held_out = float((batched(main, xv).argmax(1) == yv).float().mean())
    info = {"bits": quantise.BITS[precision], "layers_quantised": sum(quantise.count_layers(b) for b in (main, adapt, ext)),
            "main_held_out_accuracy_post_training": round(held_out, 5)}
    if keep:
        info["layers_in_float"] = {b: sorted(k) for b, k in zip(("main", "adaptive", "extension"), keep)}
        # their MACs per input, which the simulator's energy model charges at fp32 (sim.entities.energy)
        from sim.profiling.timings import count_macs

        one = cal[:1]
        with torch.inference_mode():
            features, adapted = net.main.features(one), net.adapt(one)
        info["float_macs"] = {"main": count_macs(torch, net.main, one, only=keep[0]),
                              "adaptive": count_macs(torch, net.adapt, one, only=keep[1]),
                              "extension": count_macs(torch, net.ext, features, adapted, only=keep[2])}
    say(f"{precision}: main block held-out accuracy {held_out:.4f} after quantisation (no retraining)")
    if precision in FINE_TUNE_LR:
        lr = FINE_TUNE_LR[precision] if lr is None else lr
        # the normalisation statistics of the quantised blocks recomputed on training images before each
        # held-out measurement: the running averages of the training steps lag the rounding changes.
        # Recomputed once before the training too, to tell that share of the gain apart (the training
        # itself normalises by batch statistics, so this does not change it)
        xs, xs_hard = x[:NORM_SAMPLES], x[mask][:NORM_SAMPLES]
        recompute_norms(torch, [main], main.features, xs, 100)
        held_out = float((batched(main, xv).argmax(1) == yv).float().mean())
        info["main_held_out_accuracy_norms_recomputed"] = round(held_out, 5)
        say(f"{precision}: main block held-out accuracy {held_out:.4f} with its normalisation statistics recomputed")
        for b in (main, adapt, ext):
            for p in b.parameters():
                p.requires_grad_(True)
        info["fine_tuning"] = {"main": fit_early(
            torch, main, x, y, xv, yv, fine_tune_epochs, patience, seed + 3, say,
            f"{precision} main block (straight-through estimator)", lr=lr,
            settle=lambda: recompute_norms(torch, [main], main.features, xs, 100)),
            "learning_rate": lr, "norm_samples": NORM_SAMPLES}
        for p in main.parameters():
            p.requires_grad_(False)
        main.eval()
        blocks = torch.nn.ModuleDict({"adapt": adapt, "ext": ext})
        info["fine_tuning"]["adaptive_extension"] = fit_early(
            torch, blocks, x[mask], to_hard[y[mask]], xv[mask_v], to_hard[yv[mask_v]], fine_tune_epochs, patience,
            seed + 4, say, f"{precision} adaptive + extension blocks (straight-through estimator)",
            forward=ext_forward_of(torch, main, adapt, ext), lr=lr,
            settle=lambda: recompute_norms(torch, [adapt, ext], lambda xb: ext(main.features(xb), adapt(xb)),
                                           xs_hard, 100))
    info["seconds"] = round(time.perf_counter() - t0, 1)
    return q, info


def profile_exits(data_path: str | None, out: Path, train_n: int = 20000, val_n: int = 5000, test_n: int = 2000,
                  epochs: int = 15, cloud_epochs: int = 8, corruptions: tuple[str, ...] | None = None,
                  severities: tuple[int, ...] = (1, 2, 3, 4, 5), threshold: float = 0.8, seed: int = 0,
                  threads: int = 1, say: Callable[[str], None] = lambda s: None,
                  adapt_samples: tuple[int, ...] = (), patience: int = 3, model: str | None = None,
                  precisions: tuple[str, ...] = (), fine_tune_epochs: int = 15, save_network: Path | None = None,
                  load_network: Path | None = None) -> dict:
    """``adapt_samples``: also the records of the device blocks adapted to each condition on
    each of these numbers of its samples (multiples of :data:`ADAPT_BATCH`; see the module).
    ``precisions`` (of ``int8``, ``int4``, ``binary``): also the records of the device blocks
    at these precisions (column ``precision``; the others are ``fp32``).  ``epochs`` and
    ``cloud_epochs`` are maxima: training stops when the held-out accuracy stops improving
    for ``patience`` epochs.  ``model``: the MEANet variant to train (default: by the data).
    ``fine_tune_epochs``: at most this many epochs of fine-tuning per int4 or binary block.
    ``save_network``: also write the trained fp32 blocks there; ``load_network``: use the blocks
    such a file holds instead of training (the training settings must be the same; the
    low-precision copies are still made, and fine-tuned, from the training data)."""
    torch = setup_torch(threads)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.profiling import data as data_mod
    from sim.profiling.adaptation import stream_filters
    from sim.profiling.train import CORRUPTIONS, condition_seed, corrupt, to_tensor

    grid = tuple(sorted({int(n) for n in adapt_samples if n > 0}))
    if any(n % ADAPT_BATCH for n in grid):
        raise ValueError(f"adapted sample counts must be multiples of the batch size {ADAPT_BATCH}")
    t0 = time.perf_counter()
    data = data_mod.load(data_path)
    precisions = tuple(dict.fromkeys(p for p in precisions if p != "fp32"))
    settings = {"data": data.sha256(), "train_n": train_n, "val_n": val_n, "epochs": epochs, "cloud_epochs": cloud_epochs,
                "patience": patience, "model": model, "seed": seed}
    if load_network is not None:
        net, info = _load_network(torch, load_network, data, settings, threshold)
        say(f"blocks loaded from {load_network} (trained by: {info['trained_by']})")
    else:
        net, info, _ = train_meanet(torch, data, train_n, val_n, epochs, cloud_epochs, threshold, seed, say, patience,
                                    model)
    low = {}
    if precisions:  # the low-precision copies of the device blocks, from the same training data
        x, y, xv, yv, *_ = training_data(torch, data, train_n, val_n, seed)
        to_hard, mask, mask_v = hard_split(torch, info["hard_classes"], data.classes, y, yv)
        low = {p: low_precision(torch, net, p, x, y, xv, yv, mask, mask_v, to_hard, fine_tune_epochs, patience, seed,
                                say) for p in precisions}
    if save_network is not None:
        from sim import provenance as prov

        info_saved = {"trained_by": prov.command(), **info}  # a loaded network keeps its own
        torch.save({"settings": settings, "info": info_saved, "main": net.main.state_dict(),
                    "adapt": net.adapt.state_dict(), "ext": net.ext.state_dict(), "cloud": net.cloud.state_dict()},
                   save_network)
    test_idx = np.sort(np.random.default_rng(seed + 7).permutation(len(data.x_test))[:test_n])
    images, labels = data.x_test[test_idx], data.y_test[test_idx]
    # the adaptation stream: test images that are not record inputs, in a seeded order
    rest = np.setdiff1d(np.arange(len(data.x_test)), test_idx)
    stream_idx = np.random.default_rng(seed + 13).permutation(rest)[:max(grid, default=0)]
    if len(stream_idx) < max(grid, default=0):
        raise ValueError(f"{len(rest)} test images are not record inputs: too few for {max(grid)} adaptation samples")
    conditions = [("clean", 0)] + [(c, s) for c in (corruptions or CORRUPTIONS) for s in severities]
    columns: dict[str, list] = {}
    measured, filters = {}, {}

    def add(key: str, x, model: MEANet, n: int, cloud: dict | None, precision: str = "fp32") -> dict:
        rec = model.records(x, cloud)
        pred, exit_ = model.route(x)
        measured[key] = {"accuracy": float((pred.numpy() == labels).mean()),
                         "exit_fractions": [float((exit_.numpy() == k).mean()) for k in range(3)]}
        rec.update({
            "corruption": np.full(len(x), corruption), "severity": np.full(len(x), severity, dtype=np.int8),
            "sample_id": test_idx.astype(np.int32), "true_class": labels.astype(np.int16),
            "hard": np.isin(labels, info["hard_classes"]),
            "main_pred_hard": np.isin(rec["main_pred"], info["hard_classes"]),
        })
        if grid:
            rec["adapted_samples"] = np.full(len(x), n, dtype=np.int32)
        if low:
            rec["precision"] = np.full(len(x), precision)
        for k in ("main", "ext", "cloud"):
            rec[f"{k}_correct"] = rec[f"{k}_pred"] == labels
        for k, v in rec.items():
            columns.setdefault(k, []).append(v)
        return {k: rec[k] for k in ("cloud_confidence", "cloud_pred")}

    for corruption, severity in conditions:
        say(f"records: {corruption} severity {severity}")
        cs = condition_seed(seed, corruption, severity)
        imgs = images if severity == 0 else corrupt(images, corruption, severity, cs)
        x = to_tensor(imgs)
        key = f"{corruption}/{severity}"
        cloud = add(key, x, net, 0, None)
        for p, (qnet, _) in low.items():
            add(f"{key}#{p}", x, qnet, 0, cloud, p)
        if not grid:
            continue
        stream = data.x_test[stream_idx]
        xs = to_tensor(stream if severity == 0 else corrupt(stream, corruption, severity, cs + 1))
        ent, cos = stream_filters(torch, net.main, xs)
        filters[key] = {"entropy_nats": np.round(ent, 5).tolist(), "cosine_to_average": np.round(cos, 5).tolist()}
        for n in grid:
            say(f"records: {corruption} severity {severity}, blocks adapted on {n} samples")
            add(f"{key}@{n}", x, net.adapted(xs[:n], ADAPT_BATCH), n, cloud)
    table = pa.table({k: np.concatenate(v) for k, v in columns.items()})
    table = table.cast(pa.schema([pa.field(f.name, pa.float32() if pa.types.is_floating(f.type) else
                                           (pa.int16() if f.name.endswith("_pred") else f.type)) for f in table.schema]))
    prov = provenance(threads, seed, data.name, data.sha256(), test_samples=int(len(test_idx)),
                      wall_s=round(time.perf_counter() - t0, 1))
    meta = {"format": FORMAT, "provenance": prov, "network": info, "classes": data.classes,
            "measured_meanet": measured}
    if grid:
        meta["adaptation"] = {
            "method": "normalisation statistics of the main, adaptive and extension blocks recomputed on the "
                      "first N images of an unlabelled stream of the condition (cumulative averages over batches "
                      f"of {ADAPT_BATCH}, main block first); weights and affine parameters as trained; cloud "
                      "model unchanged",
            "samples_grid": list(grid), "batch_size": ADAPT_BATCH, "stream_samples": int(len(stream_idx)),
            "stream": "test images that are not record inputs, corrupted with the condition seed + 1",
            "payload_bytes": net.payload_bytes(), "payload_tensors": 4 * len(net.norms()),
        }
        meta["stream_filters"] = filters
    if low:
        from sim.profiling import quantise

        meta["precisions"] = {
            "method": quantise.__doc__.strip(), "clip_percentile": {p: quantise.CLIP_PERCENTILE[p] for p in low},
            "calibration": "the first 1,000 training images", "measured": {p: q_info for p, (_, q_info) in low.items()},
            "records": "measured_meanet keys 'corruption/severity#precision'; the cloud model stays fp32",
        }
    table = table.replace_schema_metadata({"sim": json.dumps(meta)})
    atomic.write_with(out, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return meta
