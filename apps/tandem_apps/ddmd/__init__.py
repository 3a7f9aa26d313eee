"""DeepDriveMD on tandem: OpenMM segments steered by a PyTorch CVAE and LOF outliers.

Run it with ``python -m tandem_apps.ddmd`` (see docs/ddmd.md). The stage modules
(:mod:`.peptide`, :mod:`.md`, :mod:`.structure`, :mod:`.aggregate`, :mod:`.cvae`, :mod:`.train`,
:mod:`.agent`) are plain science code; :mod:`.campaign` drives them with tandem.
"""
