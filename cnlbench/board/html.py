"""Render the leaderboard as one static, offline HTML page (``leaderboard/index.html``).

Inline CSS and inline vanilla JavaScript, no network access. Tables carry the same text as the
Markdown (both come from :func:`cnlbench.board.grid.table_grid`); every cell stores the number
it sorts on in ``data-v`` (empty = missing, sorts last). Clicking a header sorts its table
(numeric, on the mean; first click puts the best first); the URL hash ``#sort=<key>`` or
``#sort=<key>:asc`` / ``:desc`` applies the same sort to every table with that column key on
load (keys: ``method``, ``c-<config>``, ``levels``, ``boot_mean``, ``iqm``, ``poi``, ``delta``);
``#click=<key>[,<key>...]`` clicks those headers in order (what a reader's clicks do; used by
the headless-browser test).
"""

from __future__ import annotations

import html
import math
import re
from cnlbench.board.grid import Page, table_grid, table_notes
from cnlbench.board.markdown import methodology
from cnlbench.board.table import BoardTable

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#1b1b1b;max-width:1400px}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ccc}h3{margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none}th:hover{background:#e4e4e4}
td:first-child,th:first-child{text-align:left}
td.best{font-weight:700}tr:nth-child(even) td{background:#fafafa}
th[aria-sort=descending]::after{content:" \\25BC"}th[aria-sort=ascending]::after{content:" \\25B2"}
.note{font-size:.85rem;color:#444}.method p{max-width:60rem}img{max-width:100%;margin:.5rem 0}
"""

_JS = """
(function(){
  function val(row, i){var v=row.cells[i].getAttribute('data-v');return v===null||v===''?null:v;}
  function sortTable(table, key, dir){
    var ths=table.tHead.rows[0].cells, idx=-1;
    for(var i=0;i<ths.length;i++){if(ths[i].getAttribute('data-key')===key){idx=i;}}
    if(idx<0){return false;}
    var numeric=ths[idx].getAttribute('data-type')==='num';
    if(!dir){dir=ths[idx].getAttribute('data-best')||'desc';}
    var body=table.tBodies[0], rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=val(a,idx), y=val(b,idx);
      if(x===null&&y===null){return 0;} if(x===null){return 1;} if(y===null){return -1;}
      var c=numeric?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);
      return dir==='asc'?c:-c;
    });
    rows.forEach(function(r){body.appendChild(r);});
    for(var j=0;j<ths.length;j++){ths[j].removeAttribute('aria-sort');}
    ths[idx].setAttribute('aria-sort', dir==='asc'?'ascending':'descending');
    table.setAttribute('data-sorted', key+':'+dir);
    return true;
  }
  window.cnlbenchSort=sortTable;
  function init(){
    var tables=document.querySelectorAll('table.board');
    Array.prototype.forEach.call(tables, function(t){
      Array.prototype.forEach.call(t.tHead.rows[0].cells, function(th){
        th.addEventListener('click', function(){
          var cur=th.getAttribute('aria-sort'), dir=null;
          if(cur==='descending'){dir='asc';} else if(cur==='ascending'){dir='desc';}
          sortTable(t, th.getAttribute('data-key'), dir);
        });
      });
    });
    var m=/(?:^#|&)sort=([^&:]+)(?::(asc|desc))?/.exec(window.location.hash);
    if(m){Array.prototype.forEach.call(tables, function(t){sortTable(t, decodeURIComponent(m[1]), m[2]||null);});}
    var c=/(?:^#|&)click=([^&]+)/.exec(window.location.hash);
    if(c){decodeURIComponent(c[1]).split(',').forEach(function(key){
      Array.prototype.forEach.call(tables, function(t){
        Array.prototype.forEach.call(t.tHead.rows[0].cells, function(th){if(th.getAttribute('data-key')===key){th.click();}});
      });
    });}
  }
  if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded', init);} else {init();}
})();
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _table_html(table: BoardTable) -> str:
    grid = table_grid(table)
    lower = not table.higher_is_better
    tid = f"{table.dataset}--{table.noise_kind}"
    head = []
    for key, label in zip(grid.keys, grid.headers):
        typ = "text" if key == "method" else "num"
        best = "asc" if (key == "method" or (lower and key != "poi")) else "desc"
        head.append(f'<th data-key="{_e(key)}" data-type="{typ}" data-best="{best}" scope="col">{_e(label)}</th>')
    body = []
    for row in grid.rows:
        tds = []
        for key, c in zip(grid.keys, row):
            v = c.text if key == "method" else (repr(float(c.value)) if math.isfinite(c.value) else "")
            cls = ' class="best"' if c.bold else ""
            tds.append(f'<td data-v="{_e(v)}"{cls}>{_e(c.text)}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    notes_html = "".join(f'<p class="note">{_e(n)}</p>' for n in table_notes(table))
    return (
        f'<h3>{_e(table.dataset)} — {_e(table.noise_kind)} noise</h3>\n'
        f'<table class="board" id="{_e(tid)}" data-dataset="{_e(table.dataset)}" '
        f'data-kind="{_e(table.noise_kind)}">\n<thead><tr>{"".join(head)}</tr></thead>\n'
        f'<tbody>\n' + "\n".join(body) + f"\n</tbody></table>\n{notes_html}\n"
    )


def _md_inline(text: str) -> str:
    """Escape, then turn the methodology's ``**bold**``, ``*em*`` and ``code`` marks into tags."""
    out = _e(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\*(.+?)\*", r"<em>\1</em>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _figure(caption: str, path: str) -> str:
    return (f'<figure><img src="{_e(path)}" alt="{_e(caption)}">'
            f'<figcaption class="note">{_e(caption)}</figcaption></figure>')


def render_html(page: Page) -> str:
    """The complete page as a string (UTF-8)."""
    method = methodology(page.metric, page.reps, page.seed, page.baseline)
    paras = "".join(f"<p>{_md_inline(p)}</p>" for p in method.split("\n\n"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(page.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(page.title)}</h1>",
        f'<div class="method">{paras}<p class="note">Click a column header to sort (best first; '
        "click again to reverse).</p></div>",
    ]
    if not page.tables:
        parts.append("<p><em>No finished runs yet.</em></p>")
    for ds in dict.fromkeys(t.dataset for t in page.tables):
        parts.append(f"<h2>{_e(ds)}</h2>")
        for t in (t for t in page.tables if t.dataset == ds):
            parts.append(_table_html(t))
            parts += [_figure(c, p) for c, p in page.plots.get((t.dataset, t.noise_kind), ())]
        parts += [_figure(c, p) for c, p in page.dataset_plots.get(ds, ())]
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"
