import sys

from tandem_apps.ddmd.main import main

sys.exit(main())
