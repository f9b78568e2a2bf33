"""One module per reproduced paper, each defining ``REPRODUCTION``
(a :class:`cnlbench.board.reproduce.Reproduction`): the full citation, the published numbers
with where each was read (``None`` where it could not be traced, printed ``n/a``), and the
smoke / reduced / full scale plans. Registered in
:data:`cnlbench.board.reproduce.REPRODUCTION_MODULES`."""
