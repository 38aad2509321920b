"""duvae: a literate re-implementation of DU-VAE (Shen et al., IJCAI-21) and its baselines.

The top level is the paper; the machinery that trains, sweeps, reports and publishes it lives in
named subpackages below. Imports point down this list and never up (``tests/test_layout.py``):
the paper imports nothing of the machinery.

The paper
---------
- :mod:`duvae.theory`               Section 3: eq. 1's KL, MPD (eq. 2-3) and its bound, conditional entropy (eq. 4-5), variance dropout (eq. 6), Proposition 1 (eq. 7-8), BN on the means (eq. 9, Algorithm 1), in closed form.
- :mod:`duvae.montecarlo`           the checks of theory by simulation: synthetic posterior families, Monte Carlo estimates with standard errors, a BN training simulation (notebooks 01-03).
- :mod:`duvae.posteriors.gaussian`  the diagonal Gaussian posterior and the plain VAE head (eq. 1).
- :mod:`duvae.posteriors.du`        the DU-VAE head: BN on the means and dropout on the variances (eq. 6, 9).
- :mod:`duvae.posteriors.batchnorm` the BN layer on the means with a fixed-RMS scale (eq. 9, Algorithm 1 line 9).
- :mod:`duvae.posteriors.bn_vae`    the BN-VAE head (Zhu et al. 2020).
- :mod:`duvae.posteriors.delta`     the delta-VAE head (Razavi et al. 2019).
- :mod:`duvae.posteriors.iaf`       the IAF posterior: MADE, IAF blocks, IAF+FB, IAF+BN and DU-IAF (Section 3.4).
- :mod:`duvae.nets.text_encoder`    the LSTM encoder of text.
- :mod:`duvae.nets.text_decoder`    the LSTM decoder of text, conditioned on z.
- :mod:`duvae.nets.fused_softmax`   the text likelihood's log-softmax of the targets, block by block.
- :mod:`duvae.nets.resnet`          the ResNet encoder of Omniglot images.
- :mod:`duvae.nets.pixelcnn`        the PixelCNN decoder of Omniglot images, conditioned on z.
- :mod:`duvae.nets.init`            the initialisation the image networks share.
- :mod:`duvae.vae`                  the model: ``posterior(x)``, ``prior``, ``log_likelihood(x, z)``.
- :mod:`duvae.objectives`           the ELBO of every baseline: annealing, beta, free bits, MAE, SA-VAE.
- :mod:`duvae.mae`                  MAE's diversity and smoothness terms (Ma et al. 2018).
- :mod:`duvae.sa_vae`               SA-VAE's refinement of the posterior by SVI steps (Kim et al. 2018).
- :mod:`duvae.metrics`              IW-NLL, its importance weights and its bounds over k, KL, MI (and its spread), AU, MPD and CE of a data set.
- :mod:`duvae.generation`           what a trained model generates: homotopies, greedy sentences, distinct outputs, image grids.
- :mod:`duvae.probes`               the linear probes of Tables 2 and 3.
- :mod:`duvae.aggregate_posterior`  Figure 1's aggregated posterior q(z) on a grid, and its picture.
- :mod:`duvae.bf16`                 the fp32 / bf16 switch of the matrix products.
- :mod:`duvae.data.registry`        verified downloads: every public file pinned by URL, size and SHA-256.
- :mod:`duvae.data.text`            text data: vocabulary, encoded documents, length-bucketed batches.
- :mod:`duvae.data.yahoo`           the Yahoo documents of Table 1.
- :mod:`duvae.data.yelp`            the long Yelp corpus of Table 1 (where its files are at hand).
- :mod:`duvae.data.short_yelp`      the short-Yelp sentiment sentences of Table 2.
- :mod:`duvae.data.synthetic`       the synthetic text of Figure 1, from a known 2-D latent.
- :mod:`duvae.data.omniglot`        Omniglot at 28x28: the drawer split, fixed and dynamic binarisation.
- :mod:`duvae.data.your_files`      your own sentences or images, read and checked.

One run (:mod:`duvae.runs`)
---------------------------
- :mod:`duvae.runs.config`    dataclass configs of a run (model, networks, schedule) and its id.
- :mod:`duvae.runs.zoo`       every model of the paper one named config away, per data set and profile.
- :mod:`duvae.runs.profiles`  the ``smoke`` / ``cpu`` / ``paper`` sizes of the theory notebooks.
- :mod:`duvae.runs.device`    CUDA when present, else the CPU; seeding.
- :mod:`duvae.runs.run_data`  a run's data set, batched for training and evaluation.
- :mod:`duvae.runs.trainer`   the training loop, per-epoch checkpoints, exact resume, ``train_or_load``.
- :mod:`duvae.runs.results`   a finished run's JSON result under ``results/``, written and read.
- :mod:`duvae.runs.pins`      ``constraints.txt``: the exact environment the tests passed in.

The experiments (:mod:`duvae.experiments`)
------------------------------------------
- :mod:`duvae.experiments.verdicts`  the one rule that judges a measured difference against the seed spread.
- :mod:`duvae.experiments.figure1`   Figure 1: the latent space of the synthetic data.
- :mod:`duvae.experiments.table1`    Table 1: likelihood estimation.
- :mod:`duvae.experiments.figure2`   Figure 2: DU-VAE over (gamma, p).
- :mod:`duvae.experiments.precision` bf16 against fp32 training of the Yahoo rows.
- :mod:`duvae.experiments.gap`       the Yahoo NLL-gap factors, and our rows beside the official code's.
- :mod:`duvae.experiments.table2`    Table 2: short-Yelp probes.
- :mod:`duvae.experiments.table3`    Table 3: Omniglot probes.
- :mod:`duvae.experiments.probe_table`  what Tables 2 and 3 share: rows, accuracy table, the sentence's halves, curves.
- :mod:`duvae.experiments.scale`     the size study: Table 1's rows at larger sizes.
- :mod:`duvae.experiments.inside`    looking inside: what the trained models generate and what their metrics count, measured per run, with its tables.
- :mod:`duvae.experiments.yours`     your own data: the models on a user's corpus or images, with a collapse diagnosis.

Many runs (:mod:`duvae.sweep`)
------------------------------
- :mod:`duvae.sweep.engine`  the sweep engine on submitit: local processes or Slurm, resumable (``python -m duvae.sweep``).
- :mod:`duvae.sweep.costs`   what a reproduction costs: measured and projected hours.

The report (:mod:`duvae.report`)
--------------------------------
- :mod:`duvae.report.claims`   the paper's claims as data, judged on the committed results.
- :mod:`duvae.report.publish`  the README's *Results* section (``python -m duvae.report readme``).

The book (:mod:`duvae.book`)
----------------------------
- :mod:`duvae.book.run`        the main job: every notebook through papermill.
- :mod:`duvae.book.sources`    the notebooks' sources and their reading order.
- :mod:`duvae.book.cells`      what the notebooks' cells call.
- :mod:`duvae.book.outputs`    where notebooks write figures and tables.
- :mod:`duvae.book.timings`    measured run times of the notebooks.
- :mod:`duvae.book.exercises`  the course's exercises: reference answers and checks.
- :mod:`duvae.book.course`     the student edition of the course notebooks.
- :mod:`duvae.book.site`       the book: executed notebooks and docs/ as a static site, math typeset offline (``make book``).
"""


__version__ = "0.1.0"
