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
from typing import Mapping

from cnlbench.board.grid import Grid, Page, RowMeta, summary_grid, table_grid, table_notes
from cnlbench.board.markdown import SUMMARY_NOTE, methodology, provenance_lines
from cnlbench.board.table import BoardTable

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#1b1b1b;max-width:1400px}
h1{font-size:1.6rem}h2{margin-top:2.5rem;border-bottom:1px solid #ccc}h3{margin-top:1.6rem}
.scroll{overflow:auto;max-width:100%;margin:.6rem 0}.scroll.levels{max-height:75vh}
table{border-collapse:separate;border-spacing:0;font-size:.86rem}
th,td{border-right:1px solid #d0d0d0;border-bottom:1px solid #d0d0d0;padding:.25rem .5rem;text-align:right;white-space:nowrap;background:#fff}
tr>:first-child{border-left:1px solid #d0d0d0}thead th{border-top:1px solid #d0d0d0}
th{background:#f3f3f3;cursor:pointer;user-select:none;position:sticky;top:0;z-index:2}th:hover{background:#e4e4e4}
table.summary th{white-space:normal;max-width:9rem;vertical-align:bottom}
td.sticky,th.sticky{position:sticky;left:0;z-index:1;text-align:left}th.sticky{z-index:3}
td.method,td.family,td.protocol,th.method,th.family,th.protocol{text-align:left}
td.protocol{white-space:normal;min-width:8rem;max-width:22rem;font-size:.8rem}
td.best{font-weight:700}tr:nth-child(even) td{background:#fafafa}
tr.baseline td{background:#fff4c2}tr.baseline td.method{font-weight:700}
tr.flagged td{color:#8a8a8a}tr.flagged td.method a{color:#8a8a8a}
a.code{font-size:.75rem;margin-left:.35rem;color:#555}
th[aria-sort=descending]::after{content:" \\25BC"}th[aria-sort=ascending]::after{content:" \\25B2"}
.note{font-size:.85rem;color:#444}.method-text p{max-width:60rem}img{max-width:100%;margin:.5rem 0}
.warn{color:#8a4b00}dl.prov{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;font-size:.88rem}
dl.prov dt{font-weight:600}dl.prov dd{margin:0}#filter{font-size:.95rem;padding:.3rem .5rem;width:22rem;max-width:100%}
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
  function filterRows(text){
    var q=(text||'').toLowerCase().trim();
    Array.prototype.forEach.call(document.querySelectorAll('tr[data-method]'), function(tr){
      var hay=(tr.getAttribute('data-method')+' '+tr.getAttribute('data-family')).toLowerCase();
      tr.style.display=(!q||hay.indexOf(q)>=0)?'':'none';
    });
  }
  window.cnlbenchFilter=filterRows;
  function measure(){
    // Element boxes for the headless-browser test: what a reader at this window size sees.
    var out={viewport:document.documentElement.clientWidth, tables:[]};
    Array.prototype.forEach.call(document.querySelectorAll('table.board'), function(t){
      var r=t.getBoundingClientRect(), w=t.parentNode, wr=w.getBoundingClientRect(), cells=[];
      Array.prototype.forEach.call(t.tHead.rows[0].cells, function(th){
        var b=th.getBoundingClientRect(); cells.push({key:th.getAttribute('data-key'), left:b.left, right:b.right});
      });
      out.tables.push({id:t.id, cls:t.className, left:r.left, right:r.right, width:r.width,
        wrapLeft:wr.left, wrapRight:wr.right, scrollWidth:w.scrollWidth, clientWidth:w.clientWidth, headers:cells});
    });
    var pre=document.createElement('pre'); pre.id='measure'; pre.textContent=JSON.stringify(out);
    document.body.appendChild(pre);
  }
  function start(){
    init();
    var box=document.getElementById('filter');
    if(box){box.addEventListener('input', function(){filterRows(box.value);});}
    var f=/(?:^#|&)filter=([^&]*)/.exec(window.location.hash);
    if(f){var v=decodeURIComponent(f[1]); if(box){box.value=v;} filterRows(v);}
    if(/(?:^#|&)measure(?:&|$)/.test(window.location.hash)){measure();}
  }
  if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded', start);} else {start();}
})();
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _method_html(label: str, meta: RowMeta | None) -> str:
    """The method's name, linked to its paper, and a small link to its code (when known)."""
    name = _e(label)
    if meta is None:
        return name
    if meta.paper:
        name = f'<a href="{_e(meta.paper)}" title="paper">{name}</a>'
    if meta.code:
        name += f'<a class="code" href="{_e(meta.code)}" title="code">code</a>'
    return name


_TEXT_KEYS = ("method", "family", "protocol")


def _grid_html(grid: Grid, tid: str, table: BoardTable, kind: str) -> str:
    """One ``table.board`` inside a scrolling wrapper; ``kind`` is ``summary`` or ``levels``."""
    lower = not table.higher_is_better
    head = []
    for key, label in zip(grid.keys, grid.headers):
        typ = "text" if key in _TEXT_KEYS else "num"
        best = "asc" if (key in _TEXT_KEYS or key == "rank" or (lower and key != "poi")) else "desc"
        cls = "sticky" if key == "method" and kind == "levels" else key
        head.append(f'<th class="{cls}" data-key="{_e(key)}" data-type="{typ}" data-best="{best}" '
                    f'scope="col">{_e(label)}</th>')
    body = []
    for i, row in enumerate(grid.rows):
        meta = grid.meta[i] if i < len(grid.meta) else None
        tds = []
        for key, c in zip(grid.keys, row):
            v = c.text if key in _TEXT_KEYS else (repr(float(c.value)) if math.isfinite(c.value) else "")
            classes = [key] + (["best"] if c.bold else []) + (["sticky"] if key == "method" and kind == "levels" else [])
            text = _method_html(c.text, meta) if key == "method" else _e(c.text)
            tds.append(f'<td class="{" ".join(classes)}" data-v="{_e(v)}">{text}</td>')
        attrs = ""
        if meta is not None:
            rcls = [c for c, on in (("baseline", meta.baseline), ("flagged", bool(meta.flag))) if on]
            attrs = (f' data-method="{_e(meta.method)}" data-family="{_e(meta.family)}"'
                     + (f' class="{" ".join(rcls)}"' if rcls else "")
                     + (f' title="{_e(meta.flag)}"' if meta.flag else ""))
        body.append(f"<tr{attrs}>" + "".join(tds) + "</tr>")
    return (
        f'<div class="scroll {kind}"><table class="board {kind}" id="{_e(tid)}" data-dataset="{_e(table.dataset)}" '
        f'data-kind="{_e(table.noise_kind)}">\n<thead><tr>{"".join(head)}</tr></thead>\n'
        f'<tbody>\n' + "\n".join(body) + "\n</tbody></table></div>\n"
    )


def _table_html(table: BoardTable, flags: Mapping[str, str] | None = None) -> str:
    """The per-level table of ``table`` (id ``<dataset>--<kind>``) with its footnotes."""
    notes_html = "".join(f'<p class="note">{_e(n)}</p>' for n in table_notes(table))
    return (f'<h3>{_e(table.dataset)} — {_e(table.noise_kind)} noise: every level</h3>\n'
            + _grid_html(table_grid(table, flags), f"{table.dataset}--{table.noise_kind}", table, "levels")
            + notes_html + "\n")


def _summary_html(table: BoardTable, flags: Mapping[str, str] | None = None, kind_note: str = "") -> str:
    """The summary table of ``table`` (id ``summary--<dataset>--<kind>``)."""
    note = f'<p class="note">{_md_inline(kind_note)}</p>' if kind_note else ""
    return (f'<h3>{_e(table.dataset)} — {_e(table.noise_kind)} noise: summary</h3>\n{note}'
            + _grid_html(summary_grid(table, flags), f"summary--{table.dataset}--{table.noise_kind}", table, "summary"))


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
    prov = "".join(f"<dt>{_e(k)}</dt><dd>{_md_inline(v)}</dd>" for k, v in provenance_lines(page))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(page.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(page.title)}</h1>",
        f'<dl class="prov" id="provenance">{prov}</dl>' if prov else "",
        '<p><label for="filter">Filter methods or families: </label>'
        '<input id="filter" type="search" placeholder="e.g. gce, robust loss" autocomplete="off"></p>',
        f'<p class="note">{_md_inline(SUMMARY_NOTE.format(base=page.baseline))} Click a column header to sort '
        "(best first; click again to reverse).</p>",
    ]
    if not page.tables:
        parts.append("<p><em>No finished runs yet.</em></p>")
    for ds in dict.fromkeys(t.dataset for t in page.tables):
        tables = [t for t in page.tables if t.dataset == ds]
        notes = dict(page.kind_notes.get(ds, ()))
        parts.append(f"<h2>{_e(ds)}</h2>")
        for t in tables:
            parts.append(_summary_html(t, page.table_flags(t), notes.get(t.noise_kind, "")))
        for t in tables:
            parts.append(_table_html(t, page.table_flags(t)))
            parts += [_figure(c, p) for c, p in page.plots.get((t.dataset, t.noise_kind), ())]
        parts += [_figure(c, p) for c, p in page.dataset_plots.get(ds, ())]
    parts.append(f'<h2>Methodology</h2><div class="method-text">{paras}</div>')
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(p for p in parts if p) + "\n"
