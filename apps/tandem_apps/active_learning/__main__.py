import sys

from tandem_apps.active_learning.main import main

sys.exit(main())
