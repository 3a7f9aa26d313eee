"""tandem's version, in a module of its own so that any layer can name it without importing the
public API (which imports everything).

Imports: nothing from tandem.
"""

__version__ = "0.1.0"
