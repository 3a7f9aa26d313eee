from tandem_apps.abinitio.main import main

raise SystemExit(main())
