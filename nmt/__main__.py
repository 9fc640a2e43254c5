"""`python -m nmt ...`: the same as the `nmt` command."""
import sys

from nmt.cli import main

sys.exit(main())
