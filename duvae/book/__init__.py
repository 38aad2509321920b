"""The book: how the package becomes executed notebooks, and a course.

The rest of :mod:`duvae` is the paper (theory, models, objectives, metrics, data) and the runs
(configs, trainer, sweep, results, claims); this subpackage is what turns them into the notebooks a
reader opens. Imports point one way: :mod:`duvae.book` imports the rest of the package, nothing
outside it imports :mod:`duvae.book` (``tests/test_layout.py`` checks it).

- :mod:`duvae.book.sources`   where the ``py:percent`` notebook sources are, in order.
- :mod:`duvae.book.cells`     what cells call: a theory notebook's first cell, an experiment
  notebook's results, the package's code printed beside an equation.
- :mod:`duvae.book.outputs`   where figures and tables go (``build/<profile>/``).
- :mod:`duvae.book.run`       the main job: every notebook through papermill with one profile.
- :mod:`duvae.book.timings`   measured run times, recorded by the main job, printed by the notebooks.
- :mod:`duvae.book.exercises` the exercises' reference answers and the checks a student runs.
- :mod:`duvae.book.course`    the student edition (``make student``).
"""
