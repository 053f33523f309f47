"""`python -m device_agent ...` is `netadapt-agent ...`."""

from device_agent.cli import main

raise SystemExit(main())
