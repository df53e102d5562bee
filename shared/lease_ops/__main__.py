from lease_ops.cli import main

raise SystemExit(main())
