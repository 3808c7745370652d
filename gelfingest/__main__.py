import sys

from gelfingest.cli import main

sys.exit(main())
