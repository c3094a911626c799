import sys

from encore_jax.cli import main

sys.exit(main())
