"""The published-number data: a citation for every paper, a source AND a trust level for every
stored number (a test fails on a number without both), the transcriptions that the checks rest
on, and checks that name what the plans run."""

from __future__ import annotations

import fnmatch
import math

import pytest

import cnlbench.reproduce as R
from cnlbench.harness.methods import method_names


def provenance_problems(published) -> list[str]:
    """Every stored number needs a finite value, a source and a trust level."""
    problems = []
    for p in published:
        if not isinstance(p.value, (int, float)) or not math.isfinite(p.value):
            problems.append(f"{p}: no finite value (a number that was not published is not stored)")
        if not p.source.strip():
            problems.append(f"{p}: no source")
        if p.trust not in R.TRUST_LEVELS:
            problems.append(f"{p}: trust {p.trust!r} is not one of {R.TRUST_LEVELS}")
    return problems


@pytest.mark.parametrize("name", R.reproduction_names())
def test_citation_is_complete_bibtex(name):
    r = R.get_reproduction(name)
    assert r.citation.lstrip().startswith("@") and r.citation.rstrip().endswith("}")
    for key in ("title", "author", "year"):
        assert f"{key}" in r.citation
    assert f"arXiv:{r.arxiv}" in r.citation
    assert r.title.split(":")[0] in r.citation


@pytest.mark.parametrize("module", list(R.published_data()))
def test_every_number_has_a_source_and_a_trust_level(module):
    published = R.published_data()[module]
    assert provenance_problems(published) == []
    for p in published:
        assert p.method in method_names(), p
        assert 0.0 <= p.value <= 100.0 and (p.upper is None or p.upper >= p.value)
    keys = [(p.method, p.setting, p.metric, p.dataset) for p in published]
    assert len(keys) == len(set(keys)), "a number is stored twice"


def test_the_provenance_check_catches_a_number_without_source_or_trust():
    bad = [R.Published("ce", "sym-20", "acc", 50.0, "", "primary"),
           R.Published("ce", "sym-40", "acc", 50.0, "Table 1", "trust me")]
    assert len(provenance_problems(bad)) == 2


def test_secondary_numbers_print_marked():
    sec = R.Published("mentormix", "sym-40", "acc", 71.3, "src", "secondary", "cifar100")
    assert sec.text() == "71.30 [secondary]"
    assert R.Published("gce", "sym-60", "acc", 82.5, "src", "corroborated", upper=82.7).text() == "82.50–82.70"
    assert R.Published("ce", "x", "acc", 58.3, "src", "secondary", spread=10.3).text() == "58.30 ± 10.30 [secondary]"


def test_patrini_table_is_all_forty_cells_primary():
    from cnlbench.reproduce.papers import patrini2017 as P

    r = R.get_reproduction("patrini2017")
    cells = {(p.method, p.setting): p for p in r.published if p.dataset == "cifar10"}
    assert len(cells) == 40 and {p.trust for p in cells.values()} == {"primary"}
    assert set(cells) == {(m, s) for m in P.METHODS for s in P.SETTINGS}
    got = {k: p.value for k, p in cells.items()}
    assert got["forward", "asym-60"] == 87.6 and got["ce", "asym-60"] == 53.6 and got["backward", "asym-60"] == 74.3
    assert got["sigmoid", "sym-20"] == 69.6 and got["forward-that", "asym-20"] == 90.1
    assert [got["unhinged", s] for s in P.SETTINGS] == [90.2, 86.5, 87.1, 60.0]
    assert {p.value for p in r.published if p.dataset == "clothing1m"} == {68.94, 69.13, 69.84, 75.19, 80.38}


def test_jiang_numbers_and_their_trust():
    r = R.get_reproduction("jiang2020")
    got = {(p.method, p.dataset, p.setting): p for p in r.published if p.metric == "test_acc_best_val"}
    assert [got["mentormix", "cifar10", f"sym-{x}"].value for x in (20, 40, 60, 80)] == [95.6, 94.2, 91.3, 81.0]
    assert [got["mentornet", "cifar10", f"sym-{x}"].value for x in (20, 40, 60, 80)] == [92.0, 91.2, 74.2, 60.0]
    assert [got["mixup", "cifar10", f"sym-{x}"].value for x in (20, 40, 60, 80)] == [94.0, 91.5, 86.8, 76.9]
    assert {got[m, "cifar10", s].trust for m in ("mentornet", "mixup", "mentormix")
            for s in ("sym-20", "sym-40", "sym-60", "sym-80")} == {"corroborated"}
    assert [got["mentormix", "cifar100", f"sym-{x}"].trust for x in (20, 40, 60, 80)] == \
        ["corroborated", "secondary", "secondary", "secondary"]
    cars = got["mentormix", "stanford-cars", "red, fine-tuned, mean over levels"]
    assert (cars.value, cars.spread, cars.trust) == (86.9, 5.5, "corroborated")


def test_dac_and_mixup_store_only_what_was_published():
    dac = R.get_reproduction("thulasidasan2019-dac")
    by_trust = {t: sorted(p.value for p in dac.published if p.trust == t) for t in R.TRUST_LEVELS}
    assert by_trust["corroborated"] == [16.0, 82.5, 86.3]
    assert 88.94 in by_trust["secondary"] and 86.3 not in by_trust["secondary"]
    assert R.get_reproduction("thulasidasan2019-mixup").published == ()


@pytest.mark.parametrize("name", R.reproduction_names())
def test_checks_name_what_the_reduced_and_full_plans_run(name):
    r = R.get_reproduction(name)
    assert r.checks
    names = [c.name for c in r.checks]
    assert len(names) == len(set(names))
    reduced = r.plan("reduced")
    for c in r.checks:
        assert all(req in names[:names.index(c.name)] for req in c.requires)
        if isinstance(c, R.Direction):
            for side in (c.a, c.b):
                if side is not None:
                    assert side[0] in reduced.methods
                    assert any(fnmatch.fnmatchcase(x, side[1]) or fnmatch.fnmatchcase(side[1], x)
                               for x in reduced.configs), (c.name, side)
        else:
            pubs = [p for p in r.published if (p.dataset, p.setting, p.metric) == (c.dataset, c.setting, c.metric)]
            assert len(pubs) >= R.MIN_N, c.name
            assert len({p.method for p in pubs} & set(reduced.methods)) >= R.MIN_N, c.name
