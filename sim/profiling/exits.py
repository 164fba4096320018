"""``sim profile exits``: train a MEANet-style network and write one exit record per test input.

1. The main block (a small ResNet with its own exit) is trained on the training subset.
2. Hard classes: the half of the classes with the lowest main-block accuracy on a
   held-out validation subset of the training set.
3. The adaptive and extension blocks are trained on hard-class training samples,
   the main block frozen; the extension block classifies the hard classes only.
4. A larger cloud network is trained on the same training subset.
5. Each test input, clean and under every corruption and severity, gets a record:
   main-block entropy and confidence, predictions and correctness at the main
   block, the extension block and the cloud model.

The network's own accuracy under MEANet routing (entropy > threshold -> cloud; else
predicted class easy -> main exit; else extension) is measured by a cascaded forward
pass and stored in the trace metadata, so the records can be checked against it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sim.profiling.common import provenance, setup_torch

FORMAT = "sim.exits/1"


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

    def records(self, x):
        """Per-input outputs of every block, computed independently of the routing."""
        from sim.profiling.train import batched, entropy_nats

        torch = self.torch
        with torch.inference_mode():
            feats = batched(self.main.features, x)
            p_main = batched(lambda f: torch.softmax(self.main.head(f), 1), feats)
            p_ext = torch.cat([torch.softmax(self.ext(feats[k:k + 500], self.adapt(x[k:k + 500])), 1)
                               for k in range(0, len(x), 500)])
            p_cloud = batched(lambda xb: torch.softmax(self.cloud(xb), 1), x)
        return {
            "main_entropy_nats": entropy_nats(p_main).numpy(),
            "main_confidence": p_main.max(1).values.numpy(),
            "main_pred": p_main.argmax(1).numpy(),
            "ext_confidence": p_ext.max(1).values.numpy(),
            "ext_entropy_nats": entropy_nats(p_ext).numpy(),
            "ext_pred": self.hard[p_ext.argmax(1)].numpy(),
            "cloud_confidence": p_cloud.max(1).values.numpy(),
            "cloud_pred": p_cloud.argmax(1).numpy(),
        }


def train_meanet(torch, data, train_n: int, val_n: int, epochs: int, cloud_epochs: int, threshold: float,
                 seed: int, say: Callable[[str], None]) -> tuple[MEANet, dict, np.ndarray]:
    from sim.profiling import meanet
    from sim.profiling.train import batched, fit, split, to_tensor

    main_name, cloud_name = pick_variant(data)
    tr, va, te = split(data, train_n, val_n, 0, seed)
    x, y = to_tensor(data.x_train[tr]), torch.from_numpy(data.y_train[tr])
    xv, yv = to_tensor(data.x_train[va]), torch.from_numpy(data.y_train[va])
    torch.manual_seed(seed)
    main, adapt, ext, _ = meanet.variant(main_name, data.x_train.shape[-1], data.classes)
    fit(main, x, y, epochs, seed, progress=say, label="main block")
    pred_v = batched(main, xv).argmax(1)
    per_class = [float((pred_v[yv == c] == c).float().mean()) if (yv == c).any() else 1.0 for c in range(data.classes)]
    hard = sorted(sorted(range(data.classes), key=lambda c: (per_class[c], c))[: data.classes // 2])
    say(f"hard classes {hard} (validation accuracy of the main block per class: "
        + ", ".join(f"{a:.3f}" for a in per_class) + ")")

    for p in main.parameters():
        p.requires_grad_(False)
    main.eval()
    hard_t = torch.tensor(hard)
    to_hard = torch.full((data.classes,), -1, dtype=torch.long)
    to_hard[hard_t] = torch.arange(len(hard))
    mask = torch.isin(y, hard_t)
    blocks = torch.nn.ModuleDict({"adapt": adapt, "ext": ext})

    def ext_forward(xb):
        with torch.no_grad():
            f = main.features(xb)
        return ext(f, adapt(xb))

    fit(blocks, x[mask], to_hard[y[mask]], epochs, seed + 1, forward=ext_forward, progress=say,
        label="adaptive + extension blocks (hard classes)")
    cloud = meanet.cloud_model(cloud_name, data.x_train.shape[-1], data.classes)
    fit(cloud, x, y, cloud_epochs, seed + 2, progress=say, label=f"cloud model {cloud_name}")
    info = {"main_model": main_name, "cloud_model": cloud_name, "hard_classes": hard,
            "main_validation_accuracy_per_class": per_class, "entropy_threshold_nats": threshold,
            "train_samples": int(len(tr)), "validation_samples": int(len(va)), "epochs": epochs,
            "cloud_epochs": cloud_epochs}
    return MEANet(torch, main, adapt, ext, cloud, hard, data.classes, threshold), info, te


def profile_exits(data_path: str | None, out: Path, train_n: int = 20000, val_n: int = 5000, test_n: int = 2000,
                  epochs: int = 1, cloud_epochs: int = 2, corruptions: tuple[str, ...] | None = None,
                  severities: tuple[int, ...] = (1, 2, 3, 4, 5), threshold: float = 0.8, seed: int = 0,
                  threads: int = 1, say: Callable[[str], None] = lambda s: None) -> dict:
    torch = setup_torch(threads)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.profiling import data as data_mod
    from sim.profiling.train import CORRUPTIONS, condition_seed, corrupt, to_tensor

    t0 = time.perf_counter()
    data = data_mod.load(data_path)
    net, info, _ = train_meanet(torch, data, train_n, val_n, epochs, cloud_epochs, threshold, seed, say)
    test_idx = np.sort(np.random.default_rng(seed + 7).permutation(len(data.x_test))[:test_n])
    images, labels = data.x_test[test_idx], data.y_test[test_idx]
    conditions = [("clean", 0)] + [(c, s) for c in (corruptions or CORRUPTIONS) for s in severities]
    columns: dict[str, list] = {}
    measured = {}
    for corruption, severity in conditions:
        say(f"records: {corruption} severity {severity}")
        imgs = images if severity == 0 else corrupt(images, corruption, severity, condition_seed(seed, corruption, severity))
        x = to_tensor(imgs)
        rec = net.records(x)
        pred, exit_ = net.route(x)
        key = f"{corruption}/{severity}"
        measured[key] = {"accuracy": float((pred.numpy() == labels).mean()),
                         "exit_fractions": [float((exit_.numpy() == k).mean()) for k in range(3)]}
        rec.update({
            "corruption": np.full(len(x), corruption), "severity": np.full(len(x), severity, dtype=np.int8),
            "sample_id": test_idx.astype(np.int32), "true_class": labels.astype(np.int16),
            "hard": np.isin(labels, info["hard_classes"]),
            "main_pred_hard": np.isin(rec["main_pred"], info["hard_classes"]),
        })
        for k in ("main", "ext", "cloud"):
            rec[f"{k}_correct"] = rec[f"{k}_pred"] == labels
        for k, v in rec.items():
            columns.setdefault(k, []).append(v)
    table = pa.table({k: np.concatenate(v) for k, v in columns.items()})
    table = table.cast(pa.schema([pa.field(f.name, pa.float32() if pa.types.is_floating(f.type) else
                                           (pa.int16() if f.name.endswith("_pred") else f.type)) for f in table.schema]))
    prov = provenance(threads, seed, data.name, data.sha256(), test_samples=int(len(test_idx)),
                      wall_s=round(time.perf_counter() - t0, 1))
    meta = {"format": FORMAT, "provenance": prov, "network": info, "classes": data.classes,
            "measured_meanet": measured}
    table = table.replace_schema_metadata({"sim": json.dumps(meta)})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out)
    return meta
