"""Render the leaderboard as Markdown (``leaderboard/README.md``)."""

from __future__ import annotations

from typing import Mapping, Sequence

from cnlbench.board.grid import Grid, Page, RowMeta, summary_grid, table_grid, table_notes
from cnlbench.board.protocol import CONVERGENCE_GAP
from cnlbench.board.table import BoardTable

__all__ = ["METRIC_NAMES", "SUMMARY_NOTE", "methodology", "provenance_lines", "render_summary", "render_table",
           "render_markdown"]

SUMMARY_NOTE = (
    "**Summary tables** come first: rank by the mean over levels (with its stratified-bootstrap 95% "
    "interval over seeds), the paired difference to {base} and P(better than {base}). "
    f"**Protocol**: a method more than {100 * CONVERGENCE_GAP:g} points below {{base}} at 0% noise did not "
    "converge under this protocol; it is greyed with its reason and not ranked, as is a method whose "
    "mechanism never engaged (e.g. a DAC that abstained on no training batch trained as {base}) and a method "
    "that does not cover every level. Each method links to its paper and code; the per-level tables follow."
)

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


def _method_md(text: str, meta: RowMeta | None) -> str:
    out = _esc(text)
    if meta is not None and meta.paper:
        out = f"[{out}]({meta.paper})"
    if meta is not None and meta.code:
        out += f" ([code]({meta.code}))"
    if meta is not None and meta.baseline:
        out = f"**{out}**"
    return out


def _md_grid(grid: Grid, links: bool = False) -> str:
    """A Markdown table; ``links``: method names linked to paper and code, the baseline in bold
    (summaries only: in the per-level tables bold marks the best value)."""
    left = {"method", "family", "protocol", "rank"}
    lines = ["| " + " | ".join(_esc(h) for h in grid.headers) + " |"]
    lines.append("|" + "|".join(":---" if k in left else "---:" for k in grid.keys) + "|")
    for i, row in enumerate(grid.rows):
        meta = grid.meta[i] if i < len(grid.meta) else None
        cells = [_method_md(c.text, meta) if k == "method" and links else (f"**{_esc(c.text)}**" if c.bold else _esc(c.text))
                 for k, c in zip(grid.keys, row)]
        if links and meta is not None and meta.flag:  # flagged summary rows in italics (greyed in the HTML)
            cells = [f"_{c}_" if k not in ("method", "rank") and c and c != "—" else c for k, c in zip(grid.keys, cells)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_summary(table: BoardTable, flags: Mapping[str, str] | None = None, kind_note: str = "") -> str:
    """The summary table of ``table`` under a ``###`` heading (see :func:`summary_grid`)."""
    out = [f"### {table.dataset} — {table.noise_kind} noise: summary", ""]
    if kind_note:
        out += [kind_note, ""]
    out += [_md_grid(summary_grid(table, flags), links=True), ""]
    return "\n".join(out)


def provenance_lines(page: Page) -> Sequence[tuple[str, str]]:
    """The page's provenance as ``(label, value)`` lines (empty when none was recorded)."""
    return list(page.provenance)


def render_table(table: BoardTable, flags: Mapping[str, str] | None = None) -> str:
    """One per-level table with its footnotes, under a ``###`` heading."""
    out = [f"### {table.dataset} — {table.noise_kind} noise: every level", "", _md_grid(table_grid(table, flags)), ""]
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
    """The whole README: title, provenance, per dataset the summaries, then the per-level tables
    and figures, then the methodology."""
    out = [f"# {page.title}", ""]
    prov = provenance_lines(page)
    if prov:
        out += [f"- **{k}:** {v}" for k, v in prov] + [""]
    out += [SUMMARY_NOTE.format(base=page.baseline), ""]
    if not page.tables:
        out += ["_No finished runs yet._", ""]
    for ds in dict.fromkeys(t.dataset for t in page.tables):
        tables = [t for t in page.tables if t.dataset == ds]
        notes = dict(page.kind_notes.get(ds, ()))
        out += [f"## {ds}", ""]
        for t in tables:
            out.append(render_summary(t, page.table_flags(t), notes.get(t.noise_kind, "")))
        for t in tables:
            out.append(render_table(t, page.table_flags(t)))
            for caption, path in page.plots.get((t.dataset, t.noise_kind), ()):
                out += [f"![{caption}]({path})", ""]
        for caption, path in page.dataset_plots.get(ds, ()):
            out += [f"![{caption}]({path})", ""]
    out += ["## Methodology", "", methodology(page.metric, page.reps, page.seed, page.baseline), ""]
    return "\n".join(out).rstrip() + "\n"
