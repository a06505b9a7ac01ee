from taxmeter.cli import main

raise SystemExit(main())
