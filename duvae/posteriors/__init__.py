"""Posterior heads ``(f, kl_weight) -> q(z|x)`` and the posterior distributions they return.

Every head maps an encoder feature ``f`` ``[B, in_features]`` to a ``torch.distributions``
object with batch shape ``[B]`` and event shape ``[nz]``; the remedies that act on the
posterior's parameters live here (see :mod:`duvae.vae` for the protocol):

- :mod:`~duvae.posteriors.gaussian`  ``DiagGaussian``, ``GaussianHead`` (vanilla VAE; optional floor)
- :mod:`~duvae.posteriors.batchnorm` ``BatchNormMean`` (eq. 9; learnable renormalised or fixed scale)
- :mod:`~duvae.posteriors.du`        ``DUHead`` (DU-VAE: BN on means, dropout on variances, eq. 6)
- :mod:`~duvae.posteriors.bn_vae`    ``BNVAEHead`` (BN-VAE: fixed BN scale)
- :mod:`~duvae.posteriors.delta`     ``DeltaHead`` (delta-VAE: KL_d >= delta)
- :mod:`~duvae.posteriors.iaf`       ``MADE``, ``IAFBlock``, ``IAFHead``, ``IAFPosterior`` (IAF+FB, IAF+BN, DU-IAF)

The equations themselves are computed by :mod:`duvae.theory`'s functions, which the heads call (one
function per equation): eq. 1's KL ``prior_kl``, eq. 6 ``variance_dropout`` (re-exported here), eq. 9
``batchnorm_means`` and Algorithm 1's line 9 ``renormalise_scales``.
"""

from duvae.posteriors.batchnorm import BatchNormMean
from duvae.posteriors.bn_vae import BNVAEHead
from duvae.posteriors.delta import DeltaHead, delta_variance_bounds
from duvae.posteriors.du import DUHead, variance_dropout
from duvae.posteriors.gaussian import DiagGaussian, GaussianHead, variance_floor
from duvae.posteriors.iaf import MADE, IAFBlock, IAFHead, IAFPosterior, MaskedLinear

__all__ = [
    "BNVAEHead",
    "BatchNormMean",
    "DUHead",
    "DeltaHead",
    "DiagGaussian",
    "GaussianHead",
    "IAFBlock",
    "IAFHead",
    "IAFPosterior",
    "MADE",
    "MaskedLinear",
    "delta_variance_bounds",
    "variance_dropout",
    "variance_floor",
]
