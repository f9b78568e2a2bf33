"""The offline HTML page, rendered in a real headless browser (Debian's chromium)."""

from __future__ import annotations

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

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "board" in (a.get("class") or ""):
            self._t = self.tables.setdefault(a["id"], {"sorted": a.get("data-sorted"), "rows": []})
        elif tag == "tr" and self._t is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._t["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._t = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _dump(page: Path, fragment: str, tmp_path: Path) -> dict[str, dict]:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.resolve().as_uri() + fragment]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    parser = _Tables()
    parser.feed(out)
    return parser.tables


@pytest.fixture(scope="module")
def board(tmp_path_factory, request):
    from board_fixtures import toy_rows, write_store

    tmp = tmp_path_factory.mktemp("html")
    store = write_store(tmp / "results", toy_rows())
    write_leaderboard([store], tmp / "lb", reps=200, plots=False)
    return tmp / "lb"


def test_page_is_offline_and_self_contained(board):
    text = (board / "index.html").read_text(encoding="utf-8")
    assert "<script>" in text and "<style>" in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the page must not load anything remote"
    assert "62.0 ± 5.0" in text and "49.8 (n=1)" in text


@needs_chromium
def test_renders_the_tables_in_chromium(board, tmp_path):
    tables = _dump(board / "index.html", "", tmp_path)
    assert set(tables) == {"toy--sym", "toy--web"}
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
