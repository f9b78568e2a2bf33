"""GPU-first evaluation harness (layer 4).

Modules: ``data`` (device-resident splits), ``augment`` (batched on-device augmentation),
``models`` (network registry), ``methods`` (one file per noisy-label method), ``metrics``,
``engine`` (``run_one``, ``train_task`` and the engine's public names) over ``train_config``
(``TrainConfig``), ``identity`` (``RunSpec``, ``run_id``), ``trainer`` (the loop and its network
executors), ``networks`` and ``rows`` (run -> results row); ``multirun`` (packed runs), ``store``
(results store), ``sweep`` (``run_sweep``) and ``backends`` (local processes, Ray). Nothing is imported here, so reading the
results schema (``cnlbench.harness.store``) stays cheap.
"""
