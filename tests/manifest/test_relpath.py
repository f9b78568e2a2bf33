"""One rule for image paths under a root: the manifest's check is the sources' check plus the
normal form a manifest stores (security-relevant: both must refuse every escape)."""

from __future__ import annotations

import pytest

from cnlbench.errors import ManifestError, SourceError
from cnlbench.manifest.writer import check_relpath as manifest_check
from cnlbench.sources.images import check_relpath as source_check

ESCAPES = ["../etc/passwd", "a/../../b", "..", "/etc/passwd", "//host/x", "C:/x", "C:x", "a\\b", "a\x00b", ""]


@pytest.mark.parametrize("bad", ESCAPES)
def test_both_refuse_every_escape(bad):
    with pytest.raises(SourceError):
        source_check(bad)
    with pytest.raises(ManifestError):
        manifest_check(bad)


@pytest.mark.parametrize("odd, normal", [("a//b", "a/b"), ("./a", "a"), ("a/./b", "a/b"), ("a/", "a")])
def test_sources_normalise_the_manifest_refuses_what_is_not_normal(odd, normal):
    assert source_check(odd) == normal
    with pytest.raises(ManifestError, match="normal form"):
        manifest_check(odd)
    assert manifest_check(normal) == normal


def test_the_root_itself_is_no_image_path():
    with pytest.raises(ManifestError):
        manifest_check(".")
