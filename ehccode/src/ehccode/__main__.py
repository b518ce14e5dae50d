import sys

from ehccode.cli import main

sys.exit(main())
