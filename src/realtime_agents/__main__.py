"""`python -m realtime_agents`: the `realtime-agents` command."""

from realtime_agents.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
