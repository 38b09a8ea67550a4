import sys

from rollsync_agent.cli import main

sys.exit(main())
