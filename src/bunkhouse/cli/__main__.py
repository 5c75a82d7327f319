import sys

from bunkhouse.cli.commands import main

sys.exit(main())
