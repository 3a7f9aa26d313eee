"""``python -m tandem.cli``: the ``tandem`` command line, run as a module.

Imports: tandem.cli.command.
"""

import sys

from tandem.cli.command import main

sys.exit(main())
