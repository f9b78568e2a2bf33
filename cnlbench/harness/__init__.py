"""GPU-first evaluation harness (layer 4).

Modules: ``data`` (device-resident splits), ``augment`` (batched on-device augmentation),
``models`` (network registry), ``methods`` (one file per noisy-label method), ``metrics``,
``engine`` (``RunSpec``, ``TrainConfig``, ``run_one``), ``store`` (results store), ``sweep``
(``run_sweep``) and ``backends`` (local processes, Ray). Nothing is imported here, so reading the
results schema (``cnlbench.harness.store``) stays cheap.
"""
