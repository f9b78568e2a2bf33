"""The offline HTML page, rendered in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnlbench.board.leaderboard import write_leaderboard

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium)")


class _Tables(HTMLParser):
    """Collects every table.board as {id: {"sorted": attr, "rows": [[cell text, ...], ...]}}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._t: dict | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._skip = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "board" in (a.get("class") or ""):
            self._t = self.tables.setdefault(a["id"], {"sorted": a.get("data-sorted"), "rows": []})
        elif tag == "tr" and self._t is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a" and "code" in (a.get("class") or ""):
            self._skip = True  # the small "code" link beside a method's name

    def handle_endtag(self, tag):
        if tag == "a":
            self._skip = False
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._t["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._t = None

    def handle_data(self, data):
        if self._cell is not None and not self._skip:
            self._cell.append(data)


def _dom(page: Path, fragment: str, tmp_path: Path, width: int = 1400) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--window-size={width},1000", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom",
           page.resolve().as_uri() + fragment]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def _dump(page: Path, fragment: str, tmp_path: Path) -> dict[str, dict]:
    parser = _Tables()
    parser.feed(_dom(page, fragment, tmp_path))
    return parser.tables


@pytest.fixture(scope="module")
def board(tmp_path_factory, request):
    from board_fixtures import toy_rows, write_store

    tmp = tmp_path_factory.mktemp("html")
    store = write_store(tmp / "results", toy_rows())
    write_leaderboard([store], tmp / "lb", reps=200, plots=False, commit="abc1234", date="2025-01-31")
    return tmp / "lb"


def test_page_is_offline_and_self_contained(board):
    text = (board / "index.html").read_text(encoding="utf-8")
    assert "<script>" in text and "<style>" in text
    # links to papers and code are fine; nothing may be LOADED from elsewhere
    assert not re.search(r"""src=["']?(https?:)?//""", text), "the page must not load anything remote"
    assert not re.search(r"""<link[^>]+href=["']?(https?:)?//""", text)
    assert not re.search(r"""url\((["']?)(https?:)?//""", text)
    assert "62.0 ± 5.0" in text and "49.8 (n=1)" in text


def test_methods_link_to_paper_and_code_and_ce_is_highlighted(board):
    text = (board / "index.html").read_text(encoding="utf-8")
    assert '<a href="https://arxiv.org/abs/1805.07836" title="paper">gce</a>' in text
    assert '<a class="code" href="https://github.com/bhanML/Co-teaching" title="code">code</a>' in text
    assert re.search(r'<tr data-method="ce" data-family="baseline" class="baseline">', text)
    assert text.index('id="summary--toy--sym"') < text.index('id="toy--sym"')  # summary first
    prov = re.search(r'<dl class="prov" id="provenance">(.*?)</dl>', text).group(1)
    for label in ("Model", "Epochs", "Seeds", "Tuning", "Commit", "Date", "cnlbench version"):
        assert f"<dt>{label}</dt>" in prov
    assert "<dd>resnet18</dd>" in prov and "<dd>4</dd>" in prov and "<dd>abc1234</dd>" in prov


@needs_chromium
def test_renders_the_tables_in_chromium(board, tmp_path):
    tables = _dump(board / "index.html", "", tmp_path)
    assert set(tables) == {"toy--sym", "toy--web", "summary--toy--sym", "summary--toy--web"}
    head, *rows = tables["toy--sym"]["rows"]
    assert head[:5] == ["Method", "0%", "20%", "40%", "80%"]
    by_method = {r[0]: r for r in rows}
    # the same numbers as the Markdown
    md = (board / "README.md").read_text(encoding="utf-8")
    assert by_method["ce"][3] == "62.0 ± 5.0" and "| 62.0 ± 5.0 |" in md
    assert by_method["gce"][4] == "49.8 (n=1)" and by_method["coteaching"][4] == "—"


@needs_chromium
@pytest.mark.parametrize(
    "fragment, order, sorted_attr",
    [
        ("#sort=c-sym-80:asc", ["ce", "gce", "coteaching"], "c-sym-80:asc"),  # 34.0 < 49.8, missing last
        ("#click=c-sym-80", ["gce", "ce", "coteaching"], "c-sym-80:desc"),  # one click: best first
        ("#click=c-sym-80,c-sym-80", ["ce", "gce", "coteaching"], "c-sym-80:asc"),  # second click reverses
        ("#click=method", ["ce", "coteaching", "gce"], "method:asc"),
    ],
)
def test_clicking_a_header_sorts(board, tmp_path, fragment, order, sorted_attr):
    tables = _dump(board / "index.html", fragment, tmp_path)
    sym = tables["toy--sym"]
    assert [r[0] for r in sym["rows"][1:]] == order
    assert sym["sorted"] == sorted_attr


def _measure(dom: str) -> dict:
    m = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert m, "the page's measuring script did not run"
    return json.loads(html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def digits_board(tmp_path_factory, repo_root):
    """The committed reference results: 27 methods, long names, long protocol reasons."""
    results = repo_root / "leaderboard" / "results" / "digits.parquet"
    if not results.exists():
        pytest.skip(f"{results} is not in this checkout")
    out = tmp_path_factory.mktemp("digits-board") / "lb"
    write_leaderboard([results], out, reps=50, plots=False, commit="abc1234", date="2025-01-31")
    return out


@needs_chromium
def test_summary_tables_are_entirely_visible_at_1400_px(digits_board, tmp_path):
    boxes = _measure(_dom(digits_board / "index.html", "#measure", tmp_path, width=1400))
    assert boxes["viewport"] == 1400
    summaries = [t for t in boxes["tables"] if "summary" in t["cls"]]
    assert len(summaries) >= 2  # one per noise kind on the board (sym, asym, web as the sweep fills in)
    for t in summaries:
        keys = [h["key"] for h in t["headers"]]
        assert keys == ["rank", "method", "family", "boot_mean", "delta", "poi", "protocol"]
        # nothing cut off: the table fits its wrapper (no horizontal scrolling) and the window
        assert t["scrollWidth"] <= t["clientWidth"], t
        assert 0 <= t["left"] and t["right"] <= boxes["viewport"], t
        assert all(0 <= h["left"] and h["right"] <= t["right"] + 0.5 for h in t["headers"]), t
    # the per-level tables are wider than the window: they scroll inside their own box instead
    levels = [t for t in boxes["tables"] if "levels" in t["cls"]]
    assert levels and all(t["wrapRight"] <= boxes["viewport"] for t in levels)
    assert any(t["scrollWidth"] > t["clientWidth"] for t in levels)


@needs_chromium
def test_filter_box_hides_other_methods(board, tmp_path):
    dom = _dom(board / "index.html", "#filter=gce", tmp_path)
    rows = re.findall(r'<tr data-method="([^"]+)"[^>]*?(style="display: none;")?>', dom)
    shown = {m for m, hidden in rows if not hidden}
    hidden = {m for m, h in rows if h}
    assert shown == {"gce"} and hidden == {"ce", "coteaching"}
