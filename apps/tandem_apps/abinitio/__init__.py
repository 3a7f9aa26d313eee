"""An ML-in-HPC application: Monte Carlo of a water molecule whose energy comes from PySCF
(Hartree–Fock), answered by a tandem surrogate when it can be trusted. See docs/abinitio.md."""
