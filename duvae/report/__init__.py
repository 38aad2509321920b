"""The report: the paper's claims judged on the committed results (:mod:`duvae.report.claims`), and
what is published from them (:mod:`duvae.report.publish`: the README's *Results* section and the
HTML report, ``python -m duvae.report``)."""
