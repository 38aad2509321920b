"""``python -m duvae.sweep EXPERIMENT ...``: the sweep engine's command line (:func:`duvae.sweep.engine.main`)."""

import sys

from duvae.sweep.engine import main

sys.exit(main())
