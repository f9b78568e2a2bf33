"""The test-time corruption option (``TrainConfig.test_corruption``): the DAC study's feature on
a known subset of the clean test images, applied after loading, with per-subset metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.data import corrupt_test, load_task
from cnlbench.harness.engine import RunSpec, TrainConfig, default_train_config, run_one


@pytest.fixture(scope="module")
def dac_digits(tmp_path_factory, repo_root):
    from cnlbench.reproduce import effective_recipe, get_reproduction, ensure_dataset

    out = tmp_path_factory.mktemp("dac")
    plan = get_reproduction("thulasidasan2019-dac").plan("reduced")
    path, _ = ensure_dataset(effective_recipe(plan, out), out, progress=False)
    return path


def test_structured_corruption_marks_a_known_subset_and_keeps_the_labels(dac_digits):
    task = load_task(dac_digits, "blur-20", "cpu")
    got = corrupt_test(task, "structured")
    n = len(task.test)
    affected = got.test.is_noisy.numpy()
    assert n == 355 and affected.sum() == round(0.2 * n)
    assert torch.equal(got.test.label, task.test.label)  # labels stay clean
    changed = (got.test.images != task.test.images).flatten(1).any(1).numpy()
    assert not changed[~affected].any() and changed[affected].mean() > 0.9  # only the blurred ones differ
    assert not task.test.is_noisy.any()  # the input task (shared by packed runs) is untouched
    again = corrupt_test(load_task(dac_digits, "blur-20", "cpu"), "structured")
    assert torch.equal(again.test.images, got.test.images)  # same build and config -> same images
    cls = corrupt_test(load_task(dac_digits, "randcls-10", "cpu"), "structured")
    assert torch.equal(cls.test.is_noisy, task.test.label == 3)  # the randomised class, no pixel change
    assert corrupt_test(task, "") is task


def test_unknown_or_unstructured_corruption_is_refused(dac_digits, tmp_path):
    task = load_task(dac_digits, "blur-20", "cpu")
    with pytest.raises(HarnessError, match="unknown test corruption"):
        corrupt_test(task, "fog")
    with pytest.raises(HarnessError, match="test_corruption"):
        TrainConfig(test_corruption="fog")
    from dataclasses import replace

    plain = replace(task, extra={"noise_spec": {"family": "symmetric"}})
    with pytest.raises(HarnessError, match="structured"):
        corrupt_test(plain, "structured")


def test_the_option_keeps_clean_run_ids_and_records_per_subset_metrics_per_epoch(dac_digits):
    base = default_train_config("digits-cnn", "digits", epochs=2, train_curves=False)
    assert "test_corruption" not in json.loads(base.to_json())  # clean-test run ids unchanged
    train = base.replace(test_corruption="structured")
    assert json.loads(train.to_json())["test_corruption"] == "structured"
    row = run_one(RunSpec(str(dac_digits), "blur-20", "dac", 0, model="digits-cnn", train=train, device="cpu"))
    assert row["status"] == "ok", row["error"]
    curves = json.loads(row["curves"])
    for key in ("test_affected_acc", "test_rest_acc", "test_affected_abstain_coverage", "test_rest_abstain_acc"):
        assert len(curves[key]) == 2 and all(0.0 <= v <= 1.0 for v in curves[key] if v == v), key
    ce = run_one(RunSpec(str(dac_digits), "blur-20", "ce", 0, model="digits-cnn", train=train, device="cpu"))
    curves = json.loads(ce["curves"])
    assert "test_affected_acc" in curves and "test_affected_abstain_coverage" not in curves
    # the whole-test accuracy is the size-weighted mean of the two subsets
    n_aff, n = 71, 355
    whole = np.asarray(curves["test_acc"])
    mixed = (n_aff * np.asarray(curves["test_affected_acc"]) + (n - n_aff) * np.asarray(curves["test_rest_acc"])) / n
    assert whole == pytest.approx(mixed, abs=1e-6)
