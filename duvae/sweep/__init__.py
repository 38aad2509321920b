"""Many runs: the sweep engine on submitit (:mod:`duvae.sweep.engine`, ``python -m duvae.sweep``) and
what a reproduction costs (:mod:`duvae.sweep.costs`, ``python -m duvae.sweep.costs``)."""
