"""Networks of the model zoo (docs/implementation.md §2.1, §2.2, §2.3).

- :class:`LSTMEncoder`: text backbone, token ids ``[batch, L]`` -> last LSTM state ``[batch, hidden]``.
- :class:`LSTMDecoder`: text decoder, ``log p(x|z)`` of shape ``[S, batch]`` for ``z [S, batch, nz]``.
- :class:`ResNetEncoder`: image backbone, ``[batch, 1, 28, 28]`` -> ``[batch, 512]``.
- :class:`PixelCNNDecoder`: image decoder, ``log p(x|z)`` of shape ``[S, batch]``.

Encoders expose ``out_features`` (the feature size the posterior head reads); decoders expose
``log_likelihood(x, z)``, the method :class:`duvae.vae.VAE` calls.
"""

from duvae.nets.pixelcnn import PixelCNNDecoder
from duvae.nets.resnet import ResNetEncoder
from duvae.nets.text_decoder import LSTMDecoder
from duvae.nets.text_encoder import LSTMEncoder

__all__ = ["LSTMEncoder", "LSTMDecoder", "ResNetEncoder", "PixelCNNDecoder"]
