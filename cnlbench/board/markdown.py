"""Render the leaderboard as Markdown (``leaderboard/README.md``)."""

from __future__ import annotations

from cnlbench.board.grid import Grid, Page, table_grid, table_notes
from cnlbench.board.table import BoardTable

__all__ = ["METRIC_NAMES", "methodology", "render_table", "render_markdown"]

METRIC_NAMES = {
    "test_acc_best_val": "clean test accuracy at the epoch of best noisy-validation accuracy",
    "test_acc_final": "clean test accuracy of the final model",
    "val_acc_best": "best noisy-validation accuracy",
    "auroc_noise": "noise-detection AUROC (the method's scores against is_noisy)",
    "ece": "expected calibration error of the final model on the clean test split (lower is better)",
    "overconfidence": "overconfidence error of the final model (lower is better)",
    "abstain_acc": "accuracy on the non-abstained test examples (DAC)",
    "abstain_coverage": "fraction of test examples not abstained on (DAC)",
}


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def _md_grid(grid: Grid) -> str:
    lines = ["| " + " | ".join(_esc(h) for h in grid.headers) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(grid.headers) - 1)) + "|")
    for row in grid.rows:
        cells = [f"**{_esc(c.text)}**" if c.bold else _esc(c.text) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_table(table: BoardTable) -> str:
    """One table with its footnotes, under a ``###`` heading."""
    out = [f"### {table.dataset} — {table.noise_kind} noise", "", _md_grid(table_grid(table)), ""]
    out += [f"- {n}" for n in table_notes(table)]
    return "\n".join(out).rstrip() + "\n"


def methodology(metric: str, reps: int, seed: int, baseline: str) -> str:
    """The methodology paragraph: what the numbers and intervals are."""
    return (
        f"**Metric:** {METRIC_NAMES.get(metric, metric)} (`{metric}`), in percent. "
        "Model selection uses the NOISY validation split only (noise applied like the training "
        "split); the clean test split is never used to choose an epoch or a hyper-parameter.\n\n"
        "**Cells** (one per noise level): mean over seeds ± the 95% t interval "
        "t(0.975, n−1)·s/√n (t = 4.303 for 3 seeds, 2.776 for 5). A cell with one seed is shown "
        "as `xx.x (n=1)`: no seed interval exists. `—` means no finished run. Each seed draws its "
        "own initialisation and data order on the same noisy split.\n\n"
        "**Summaries** per method and noise kind: *Mean over levels* is the mean of the per-level "
        "means with a 95% t interval over the levels, as the CNWL paper reports it; that interval "
        "mostly measures the spread BETWEEN levels, not seed uncertainty. *Mean* and *IQM* "
        f"(25% trimmed mean over all runs × levels) carry a stratified-bootstrap 95% percentile "
        f"interval ({reps:,} resamples; seeds resampled with replacement within each level, "
        f"generator seeded with {seed}). *P(improvement over {baseline})* is the Mann-Whitney "
        "U/(n_x·n_y) per level (ties count ½), averaged over levels, with the same bootstrap. "
        f"*Paired Δ* pairs runs with {baseline} on the same (level, seed) and gives the mean "
        "difference in points with a t interval over the pairs. Bold marks the best value per "
        "column (ties all bold)."
    )


def render_markdown(page: Page) -> str:
    """The whole README: title, methodology, then per dataset the tables and figures."""
    out = [f"# {page.title}", "", methodology(page.metric, page.reps, page.seed, page.baseline), ""]
    if not page.tables:
        out += ["_No finished runs yet._", ""]
    for ds in dict.fromkeys(t.dataset for t in page.tables):
        out += [f"## {ds}", ""]
        for t in (t for t in page.tables if t.dataset == ds):
            out.append(render_table(t))
            for caption, path in page.plots.get((t.dataset, t.noise_kind), ()):
                out += [f"![{caption}]({path})", ""]
        for caption, path in page.dataset_plots.get(ds, ()):
            out += [f"![{caption}]({path})", ""]
    return "\n".join(out).rstrip() + "\n"
