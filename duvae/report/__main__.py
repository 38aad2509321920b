"""``python -m duvae.report readme|html ...``: the report's command line (:func:`duvae.report.publish.main`)."""

import sys

from duvae.report.publish import main

sys.exit(main())
