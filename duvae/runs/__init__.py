"""One run: its config, the model zoo, profiles, device, data, the trainer and its result.

``duvae.runs.config`` names a run, ``duvae.runs.zoo`` fills it for every model of the paper,
``duvae.runs.trainer`` trains (or loads) it, and ``duvae.runs.results`` writes the JSON result that
``results/`` commits. Nothing here knows the experiments (:mod:`duvae.experiments`) that ask for runs.
"""
