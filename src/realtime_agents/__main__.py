"""`python -m realtime_agents`: the `realtime-agents` command."""

from realtime_agents.cli import main

raise SystemExit(main())
