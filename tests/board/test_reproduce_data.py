"""The published-number data: a citation for every paper, a source for every non-null number,
``not transcribed`` for every null one, and settings that name configs the full scale runs."""

from __future__ import annotations

import fnmatch

import pytest

from cnlbench.board import reproduce as R
from cnlbench.harness.methods import method_names


@pytest.mark.parametrize("name", R.reproduction_names())
def test_citation_is_complete_bibtex(name):
    r = R.get_reproduction(name)
    assert r.citation.lstrip().startswith("@") and r.citation.rstrip().endswith("}")
    for key in ("title", "author", "year"):
        assert f"{key}" in r.citation
    assert f"arXiv:{r.arxiv}" in r.citation
    assert r.title.split(":")[0] in r.citation


@pytest.mark.parametrize("name", R.reproduction_names())
def test_every_number_has_a_source_or_is_marked_not_transcribed(name):
    r = R.get_reproduction(name)
    assert r.published
    for p in r.published:
        if p.value is None:
            assert p.source == R.NOT_TRANSCRIBED
        else:
            assert p.source != R.NOT_TRANSCRIBED and r.arxiv in p.source
            assert 0.0 <= p.value <= 100.0
        assert p.method in method_names()


@pytest.mark.parametrize("name", R.reproduction_names())
def test_published_settings_match_what_the_full_scale_runs(name):
    r = R.get_reproduction(name)
    full = r.plan("full")
    for p in r.published:
        if p.dataset != full.dataset:
            continue
        assert p.metric in r.metrics
        assert any(fnmatch.fnmatchcase(p.setting, pat) for pat in full.configs), p
        assert p.method in full.methods


def test_mentormix_anchors_are_the_papers_numbers():
    r = R.get_reproduction("jiang2020")
    got = {(p.dataset, p.setting): p.value for p in r.published if p.method == "mentormix"}
    assert [got["cifar10", f"sym-{x}"] for x in (20, 40, 60, 80)] == [95.6, 94.2, 91.3, 81.0]
    assert [got["cifar100", f"sym-{x}"] for x in (20, 40, 60, 80)] == [78.6, 71.3, 64.6, 41.2]
