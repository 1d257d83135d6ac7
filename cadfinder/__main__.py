from cadfinder.cli import main

raise SystemExit(main())
