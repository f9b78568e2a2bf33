"""Tiny fixtures in the EXACT on-disk formats real dataset sources ship.

Each writer mirrors the real file's layout (checked against ../shared/data): CIFAR python
release pickles (keys ``b'data'``, ``b'labels'``/``b'fine_labels'``, ...), CIFAR Hub Parquet
(``img`` struct<bytes, path> + ``label`` with ``huggingface`` metadata), CIFAR-N ``.pt`` (a zip
holding ``archive/data.pkl`` and ``archive/version``), Mini-ImageNet CSV lists + JPEGs, Stanford
Cars devkit ``.mat`` structs + ``anno_test.csv``, and ImageFolder trees.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np


def jpeg_bytes(rng: np.random.Generator, h: int = 12, w: int = 16, fmt: str = "JPEG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


# ------------------------------------------------------------------------------ CIFAR


def cifar_arrays(n: int, num_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 3) uint8 pixels and (N,) labels covering every class."""
    pixels = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % num_classes
    return pixels, rng.permutation(labels).astype(np.int64)


def write_cifar_python(root: Path, variant: str, splits: dict[str, tuple[np.ndarray, np.ndarray]], coarse: dict | None = None) -> Path:
    """The python release: ``cifar-10-batches-py/data_batch_1..5`` etc. Pixels stored as the
    real files do: (N, 3072) uint8, channel planes R, G, B, row-major."""

    def dump(path: Path, obj: dict) -> None:
        path.write_bytes(pickle.dumps(obj, protocol=2))

    if variant == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        px, lab = splits["train"]
        for b, (pp, ll) in enumerate(zip(np.array_split(px, 5), np.array_split(lab, 5)), start=1):
            dump(folder / f"data_batch_{b}", {
                b"batch_label": f"training batch {b} of 5".encode(),
                b"labels": [int(v) for v in ll],
                b"data": pp.transpose(0, 3, 1, 2).reshape(len(pp), 3072),
                b"filenames": [f"img_{b}_{i}.png".encode() for i in range(len(pp))],
            })
        px, lab = splits["test"]
        dump(folder / "test_batch", {
            b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in lab],
            b"data": px.transpose(0, 3, 1, 2).reshape(len(px), 3072),
            b"filenames": [f"t_{i}.png".encode() for i in range(len(px))],
        })
        dump(folder / "batches.meta", {
            b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")],
            b"num_cases_per_batch": 10000, b"num_vis": 3072,
        })
        return folder
    from cnlbench.sources.cifar import CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        px, lab = splits[split]
        dump(folder / split, {
            b"filenames": [f"{split}_{i}.png".encode() for i in range(len(px))],
            b"batch_label": f"{split} batch 1 of 1".encode(),
            b"fine_labels": [int(v) for v in lab],
            b"coarse_labels": [int(v) for v in (coarse or {}).get(split, lab % 20)],
            b"data": px.transpose(0, 3, 1, 2).reshape(len(px), 3072),
        })
    dump(folder / "meta", {
        b"fine_label_names": [n.encode() for n in CIFAR100_FINE_CLASSES],
        b"coarse_label_names": [n.encode() for n in CIFAR100_COARSE_CLASSES],
    })
    return folder


def write_cifar_parquet(
    root: Path,
    variant: str,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    with_metadata: bool = True,
    shards: int = 2,
) -> Path:
    """The Hub layout: ``<config>/train-0000X-of-0000N.parquet`` with ``img`` + labels."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cnlbench.sources.cifar import CIFAR10_CLASSES, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES
    from cnlbench.sources.png import encode_png

    config = "plain_text" if variant == "cifar10" else "cifar100"
    folder = root / config
    folder.mkdir(parents=True)
    if variant == "cifar10":
        feats = {"img": {"_type": "Image"}, "label": {"names": list(CIFAR10_CLASSES), "_type": "ClassLabel"}}
    else:
        feats = {
            "img": {"_type": "Image"},
            "fine_label": {"names": list(CIFAR100_FINE_CLASSES), "_type": "ClassLabel"},
            "coarse_label": {"names": list(CIFAR100_COARSE_CLASSES), "_type": "ClassLabel"},
        }
    img_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for split, (px, lab) in splits.items():
        n_shards = shards if split == "train" else 1
        for s, idx in enumerate(np.array_split(np.arange(len(lab)), n_shards)):
            imgs = pa.array([{"bytes": encode_png(px[i]), "path": f"{split}_{i}.png"} for i in idx], type=img_type)
            cols = {"img": imgs}
            if variant == "cifar10":
                cols["label"] = pa.array(lab[idx], pa.int64())
            else:
                cols["fine_label"] = pa.array(lab[idx], pa.int64())
                cols["coarse_label"] = pa.array(lab[idx] % 20, pa.int64())
            table = pa.table(cols)
            if with_metadata:
                table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": feats}})})
            pq.write_table(table, folder / f"{split}-{s:05d}-of-{n_shards:05d}.parquet")
    return folder


def write_cifar_n_pt(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """The CIFAR-N ``.pt`` layout: a torch zip with ``archive/data.pkl`` (protocol-2 pickle of a
    dict of int64 numpy arrays) and ``archive/version``, stored uncompressed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle.dumps({k: np.asarray(v, np.int64) for k, v in arrays.items()}, protocol=2))
        z.writestr("archive/version", "3\n")
    return path


def cifar10n_arrays(clean: np.ndarray, rng: np.random.Generator, rates: dict[str, float]) -> dict[str, np.ndarray]:
    """A CIFAR-10N-like dict: ``clean_label`` plus each key with EXACTLY ``rate * N`` flips."""
    out = {"clean_label": clean.copy()}
    n = len(clean)
    for key, rate in rates.items():
        noisy = clean.copy()
        idx = rng.choice(n, int(round(rate * n)), replace=False)
        noisy[idx] = (clean[idx] + rng.integers(1, 10, len(idx))) % 10
        out[key] = noisy
    return out


# ------------------------------------------------------------------------------ file-backed


def write_mini_imagenet(root: Path, wnids_per_list: dict[str, list[str]], per_class: int, rng: np.random.Generator, *, images: bool = True) -> Path:
    """``{train,val,test}.csv`` (``filename,label``) and ``images/<wnid><8 digits>.jpg``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for lst, wnids in wnids_per_list.items():
        lines = ["filename,label"]
        for w in wnids:
            for i in range(per_class):
                fname = f"{w}{i + 1:08d}.jpg"
                lines.append(f"{fname},{w}")
                if images:
                    (root / "images" / fname).write_bytes(jpeg_bytes(rng, 20 + i, 30))
        (root / f"{lst}.csv").write_text("\n".join(lines) + "\n")
    return root


def write_stanford_cars(root: Path, class_names: list[str], train: list[tuple], test: list[tuple], rng: np.random.Generator, *, images: bool = True) -> Path:
    """Devkit ``.mat`` files with the real struct layout, ``anno_test.csv`` and image folders.

    ``train`` / ``test`` rows: ``(fname, x1, y1, x2, y2, class_1_based)``.
    """
    import scipy.io

    root.mkdir(parents=True, exist_ok=True)
    meta = np.empty((1, len(class_names)), dtype=object)
    for i, n in enumerate(class_names):
        meta[0, i] = np.array([n])
    scipy.io.savemat(root / "cars_meta.mat", {"class_names": meta})

    def struct(rows: list[tuple], with_class: bool) -> np.ndarray:
        fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"] + (["class"] if with_class else []) + ["fname"]
        arr = np.empty((1, len(rows)), dtype=[(f, "O") for f in fields])
        for i, (fname, x1, y1, x2, y2, cls) in enumerate(rows):
            vals = [np.array([[x1]], np.uint16), np.array([[y1]], np.uint16), np.array([[x2]], np.uint16), np.array([[y2]], np.uint16)]
            if with_class:
                vals.append(np.array([[cls]], np.uint8))
            vals.append(np.array([fname]))
            arr[0, i] = tuple(vals)
        return arr

    scipy.io.savemat(root / "cars_train_annos.mat", {"annotations": struct(train, True)})
    scipy.io.savemat(root / "cars_test_annos.mat", {"annotations": struct(test, False)})
    (root / "anno_test.csv").write_text("".join(f"{f},{a},{b},{c},{d},{k}\n" for f, a, b, c, d, k in test))
    if images:
        for folder, rows in (("cars_train", train), ("cars_test", test)):
            (root / folder).mkdir(exist_ok=True)
            for fname, *_ in rows:
                (root / folder / fname).write_bytes(jpeg_bytes(rng, 40, 60))
    return root


def write_imagefolder(root: Path, layout: dict[str, dict[str, int]], rng: np.random.Generator) -> Path:
    """``root/<split>/<class>/<i>.png`` (``layout = {split: {class: count}}``; split ``""``
    for a single tree)."""
    for split, classes in layout.items():
        for cls, count in classes.items():
            d = root / split / cls if split else root / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                (d / f"{i:03d}.png").write_bytes(jpeg_bytes(rng, 8, 8, fmt="PNG"))
    return root


# ------------------------------------------------------------------------------ CNWL


CNWL_FIXTURE_LEVELS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)


def write_cnwl_release(
    root: Path,
    wnids: list[str],
    per_class: int,
    val_per_class: int,
    rng: np.random.Generator,
    *,
    layout: str | None = "all_images",
    missing: tuple[str, ...] = (),
) -> dict[str, list[tuple[str, int]]]:
    """A small CNWL release in the distributed format (``dataset_no_images.zip`` extracted):
    ``class_names.txt``, ``split/{red,blue}_noise_nl_<level>`` + ``split/clean_validation``
    (``<file name> <class id>`` lines, no header) and ``mini-imagenet-annotations.json``
    (``{"data": [[record], ...]}``, one record per group as the release writes them).

    Construction as in the paper, per class and level p: blue flips the labels of the first
    ``round(p * per_class)`` examples of a fixed random order to a random incorrect class; red
    replaces the same share by web images (``<16 hex>.jpg``) annotated incorrect for the class,
    labels kept. Line order is shuffled per file. Validation images are named like training
    images (``<wnid><8 digits>.jpg``) with indices from 50000001, distinct from training names.

    ``layout``: ``"all_images"`` writes images where third-party readers expect them
    (``root/all_images/`` for every training-split image, ``root/all_validation/`` for
    ``clean_validation``); ``None`` writes none. ``missing``: file names not written.
    Returns ``{split file name: [(file name, class id), ...]}`` in file order.
    """
    k = len(wnids)
    (root / "split").mkdir(parents=True, exist_ok=True)
    (root / "class_names.txt").write_text("".join(f"{w}\n" for w in wnids))
    clean = {c: [f"{wnids[c]}{i:08d}.jpg" for i in range(1, per_class + 1)] for c in range(k)}
    n_web = int(round(max(CNWL_FIXTURE_LEVELS) * per_class)) + 1
    hexes = iter(rng.permutation(16 ** 6)[: k * (n_web + 2)].tolist())
    web = {c: [f"{next(hexes):06x}{c:010x}.jpg" for _ in range(n_web + 2)] for c in range(k)}  # last two: judged clean
    groups = [[{"image/id": Path(n).stem, "image/uri": f"https://example.org/{c}/{Path(n).stem}.jpg",
                "image/class/label": c, "image/class/label/is_clean": int(j >= n_web)}]
              for c in range(k) for j, n in enumerate(web[c])]
    (root / "mini-imagenet-annotations.json").write_text(json.dumps({"data": groups}))
    order = {c: rng.permutation(per_class) for c in range(k)}
    files: dict[str, list[tuple[str, int]]] = {}
    for lv in CNWL_FIXTURE_LEVELS:
        m = int(round(lv * per_class))
        red, blue = [], []
        for c in range(k):
            rank = {int(i): r for r, i in enumerate(order[c][:m])}  # the r-th picked example gets web image r
            red += [(web[c][rank[i]] if i in rank else n, c) for i, n in enumerate(clean[c])]
            blue += [(n, int((c + rng.integers(1, k)) % k) if i in rank else c) for i, n in enumerate(clean[c])]
        files[f"red_noise_nl_{lv!r}"] = [red[i] for i in rng.permutation(len(red))]
        files[f"blue_noise_nl_{lv!r}"] = [blue[i] for i in rng.permutation(len(blue))]
    files["clean_validation"] = [(f"{wnids[c]}{50_000_000 + i:08d}.jpg", c) for c in range(k) for i in range(1, val_per_class + 1)]
    for name, rows in files.items():
        (root / "split" / name).write_text("".join(f"{n} {lab}\n" for n, lab in rows))
    if layout == "all_images":
        for folder, names in (("all_images", {n for f, rows in files.items() if f != "clean_validation" for n, _ in rows}),
                              ("all_validation", {n for n, _ in files["clean_validation"]})):
            (root / folder).mkdir(exist_ok=True)
            for n in sorted(names):
                if n not in missing:
                    (root / folder / n).write_bytes(jpeg_bytes(rng, 12, 16))
    elif layout is not None:
        raise ValueError(f"layout {layout!r} is not 'all_images' or None")
    return files
