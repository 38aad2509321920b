"""Tests of the model-zoo networks (duvae.nets; docs/implementation.md §2.1, §2.2, §2.3).

Every network is checked against an independent computation: a hand-written LSTM recurrence for
the text decoder, per-sentence / per-sample calls for padding and tiling, the Jacobian of the
PixelCNN logits for its autoregressive property. Sizes are tiny so the file runs in seconds.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from duvae.nets import LSTMDecoder, LSTMEncoder, PixelCNNDecoder, ResNetEncoder
from duvae.nets.pixelcnn import MaskedConv2d

V, EMB, HID, NZ = 13, 6, 10, 4
BOS, EOS, PAD = 1, 2, 0


def _sentences(generator: torch.Generator, batch: int, length: int) -> torch.Tensor:
    """``<s> w ... w </s>`` with words drawn from ids 3 .. V-1: ``[batch, length]``."""
    words = torch.randint(3, V, (batch, length - 2), generator=generator)
    bos = torch.full((batch, 1), BOS)
    eos = torch.full((batch, 1), EOS)
    return torch.cat([bos, words, eos], dim=1)


def _pad(sentences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad 1-D id tensors with PAD: ``([batch, max_len], lengths [batch])``."""
    lengths = torch.tensor([len(s) for s in sentences])
    out = torch.full((len(sentences), int(lengths.max())), PAD, dtype=torch.long)
    for row, s in enumerate(sentences):
        out[row, : len(s)] = s
    return out, lengths


# --------------------------------------------------------------------------- LSTM encoder


def test_lstm_encoder_shape_and_last_state():
    torch.manual_seed(0)
    enc = LSTMEncoder(V, EMB, HID)
    x = _sentences(torch.Generator().manual_seed(1), 5, 7)
    f = enc(x)
    assert f.shape == (5, HID) and enc.out_features == HID
    # the feature is h_L of the LSTM: compare with nn.LSTM's own final state
    _, (h_n, _) = enc.lstm(enc.embed(x))
    torch.testing.assert_close(f, h_n[0])


def test_lstm_encoder_lengths_equal_unpadded():
    torch.manual_seed(0)
    enc = LSTMEncoder(V, EMB, HID, init="default")
    g = torch.Generator().manual_seed(2)
    sentences = [_sentences(g, 1, n)[0] for n in (4, 7, 2, 5)]
    padded, lengths = _pad(sentences)
    f = enc(padded, lengths=lengths)
    for row, s in enumerate(sentences):
        torch.testing.assert_close(f[row], enc(s.unsqueeze(0))[0])
    # without lengths the padded rows read the pads, so they differ (the test can fail)
    assert not torch.allclose(enc(padded)[0], f[0])


def test_lstm_encoder_inits():
    torch.manual_seed(0)
    small = LSTMEncoder(200, 32, 64, init="small")
    assert small.embed.weight.abs().max() <= 0.1 and small.embed.weight.abs().max() > 0.05
    for p in small.lstm.parameters():
        assert p.abs().max() <= 0.01
    default = LSTMEncoder(200, 32, 64, init="default")
    # PyTorch default: embedding N(0, 1), LSTM U(+-1/sqrt(hidden))
    assert 0.9 < default.embed.weight.std().item() < 1.1
    bound = 1 / math.sqrt(64)
    w = default.lstm.weight_hh_l0
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    with pytest.raises(ValueError, match="init"):
        LSTMEncoder(V, EMB, HID, init="xavier")
    with pytest.raises(ValueError, match="lengths"):
        small(torch.ones(2, 3, dtype=torch.long), lengths=torch.tensor([0, 3]))


# --------------------------------------------------------------------------- LSTM decoder


def _spread(module: torch.nn.Module, bound: float = 0.5) -> torch.nn.Module:
    """Re-draw every parameter U(-bound, bound): at the U(-0.01, 0.01) init every sentence is scored
    almost uniformly, so mistakes in the recurrence or the tiling would hide below the tolerance."""
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-bound, bound)
    return module


def _manual_log_likelihood(dec: LSTMDecoder, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x|z) for one sentence x [L] and one code z [nz], by a hand-written LSTM recurrence."""
    W_ih, W_hh = dec.lstm.weight_ih_l0, dec.lstm.weight_hh_l0
    b = dec.lstm.bias_ih_l0 + dec.lstm.bias_hh_l0
    c = dec.init_cell.weight @ z  # c_0 = U z
    h = torch.tanh(c)  # h_0 = tanh(c_0)
    total = torch.zeros(())
    for t in range(1, len(x)):
        inp = torch.cat([dec.embed.weight[x[t - 1]], z])
        i, f, g, o = (W_ih @ inp + W_hh @ h + b).chunk(4)  # PyTorch gate order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        log_probs = torch.log_softmax(dec.output.weight @ h, dim=0)
        if x[t] != dec.pad_id:
            total = total + log_probs[x[t]]
    return total


def test_lstm_decoder_matches_manual_recurrence():
    torch.manual_seed(0)
    dec = _spread(LSTMDecoder(V, EMB, HID, NZ)).eval()
    x = _sentences(torch.Generator().manual_seed(3), 3, 6)
    z = torch.randn(2, 3, NZ)
    ll = dec.log_likelihood(x, z)
    assert ll.shape == (2, 3)
    expected = torch.stack(
        [torch.stack([_manual_log_likelihood(dec, x[b], z[s, b]) for b in range(3)]) for s in range(2)]
    )
    torch.testing.assert_close(ll, expected, rtol=1e-5, atol=1e-5)


def test_lstm_decoder_tiling_and_padding():
    torch.manual_seed(0)
    dec = _spread(LSTMDecoder(V, EMB, HID, NZ)).eval()
    g = torch.Generator().manual_seed(4)
    sentences = [_sentences(g, 1, n)[0] for n in (5, 3, 8)]
    padded, _ = _pad(sentences)
    z = torch.randn(4, 3, NZ)
    ll = dec.log_likelihood(padded, z)
    assert ll.shape == (4, 3)
    for b, s in enumerate(sentences):
        # one sentence, unpadded, all S samples at once; and sample by sample
        torch.testing.assert_close(ll[:, b], dec.log_likelihood(s.unsqueeze(0), z[:, b : b + 1])[:, 0])
        for k in range(4):
            torch.testing.assert_close(ll[k, b], dec.log_likelihood(s.unsqueeze(0), z[k : k + 1, b : b + 1])[0, 0])
    # without the mask the pads would be scored: a decoder with pad_id=None gives other values
    no_mask = LSTMDecoder(V, EMB, HID, NZ, pad_id=None).eval()
    no_mask.load_state_dict(dec.state_dict())
    assert not torch.allclose(no_mask.log_likelihood(padded, z)[:, 0], ll[:, 0])


def test_lstm_decoder_dropout_only_in_training():
    torch.manual_seed(0)
    dec = LSTMDecoder(V, EMB, HID, NZ)
    x = _sentences(torch.Generator().manual_seed(5), 4, 6)
    z = torch.randn(1, 4, NZ)
    dec.train()
    assert not torch.allclose(dec.log_likelihood(x, z), dec.log_likelihood(x, z))
    dec.eval()
    torch.testing.assert_close(dec.log_likelihood(x, z), dec.log_likelihood(x, z))


def test_lstm_decoder_init_and_errors():
    torch.manual_seed(0)
    dec = LSTMDecoder(50, 16, 32, NZ)
    assert 0.05 < dec.embed.weight.abs().max() <= 0.1
    for name, p in dec.named_parameters():
        if not name.startswith("embed"):
            assert p.abs().max() <= 0.01, name
    assert dec.init_cell.bias is None and dec.output.bias is None
    x = torch.ones(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="z must be"):
        dec.log_likelihood(x, torch.zeros(2, NZ))
    with pytest.raises(ValueError, match="L >= 2"):
        dec.log_likelihood(x[:, :1], torch.zeros(1, 2, NZ))
    with pytest.raises(ValueError, match="dropout_in"):
        LSTMDecoder(V, EMB, HID, NZ, dropout_in=1.0)


def test_greedy_decode_is_the_argmax_path():
    torch.manual_seed(0)
    dec = _spread(LSTMDecoder(V, EMB, HID, NZ), bound=1.0).eval()
    z = torch.randn(5, NZ)
    out = dec.greedy_decode(z, max_len=7, bos_id=BOS, eos_id=EOS)
    assert out.dtype == torch.long and out.shape[0] == 5 and 1 <= out.shape[1] <= 7
    # feeding <s> + the decoded tokens back, each token must be the arg-max of the next-token scores
    inp = torch.cat([torch.full((5, 1), BOS), out], dim=1)
    best = dec.logits(inp, z.unsqueeze(0))[0].argmax(-1)  # [5, T]
    for row in range(5):
        ended = (out[row] == EOS).nonzero()
        stop = int(ended[0]) + 1 if len(ended) else out.shape[1]
        assert torch.equal(out[row, :stop], best[row, :stop])
        assert (out[row, stop:] == PAD).all()


def test_lstm_decoder_learns():
    torch.manual_seed(0)
    dec = LSTMDecoder(V, EMB, HID, NZ)
    x = _sentences(torch.Generator().manual_seed(6), 4, 6)
    z = torch.randn(1, 4, NZ)
    opt = torch.optim.Adam(dec.parameters(), lr=0.05)
    dec.eval()
    before = -dec.log_likelihood(x, z).mean().item()
    dec.train()
    for _ in range(10):
        opt.zero_grad()
        (-dec.log_likelihood(x, z).mean()).backward()
        opt.step()
    dec.eval()
    after = -dec.log_likelihood(x, z).mean().item()
    assert after < 0.85 * before


# --------------------------------------------------------------------------- ResNet encoder


def test_resnet_encoder_shape_and_train_mode():
    torch.manual_seed(0)
    enc = ResNetEncoder()
    assert enc.out_features == 512 and enc.final_side == 4
    x = (torch.rand(2, 1, 28, 28) > 0.5).float()
    f = enc.train()(x)
    assert f.shape == (2, 512) and torch.isfinite(f).all()
    f.sum().backward()
    assert enc.blocks[0].main[0].weight.grad is not None
    assert enc.eval()(x[:1]).shape == (1, 512)
    with pytest.raises(ValueError, match="x must be"):
        enc(torch.zeros(2, 1, 32, 32))


def test_resnet_encoder_init_and_sizes():
    torch.manual_seed(0)
    enc = ResNetEncoder()
    head = enc.head[0]
    assert head.kernel_size == (4, 4) and head.padding == (0, 0) and head.bias is None
    # conv init N(0, sqrt(2 / (k k out))): 4 * 4 * 512 for the head conv (524k weights)
    assert abs(head.weight.std().item() / math.sqrt(2 / (16 * 512)) - 1) < 0.02
    assert torch.equal(enc.head[1].weight, torch.ones(512))
    # other sizes: 2 blocks on 16x16 -> 16 -> 8 -> 4
    small = ResNetEncoder(channels=8, feature_dim=20, n_blocks=2, image_size=16)
    assert small.final_side == 4 and small(torch.rand(3, 1, 16, 16)).shape == (3, 20)


# --------------------------------------------------------------------------- PixelCNN decoder


def test_masked_conv_masks():
    conv = MaskedConv2d(5, 8, 7, mask_type="A", masked_channels=1)
    m = conv.mask[0]
    # image channel: only the rows above and the left part of the centre row survive
    expected = torch.zeros(7, 7)
    expected[:3] = 1
    expected[3, :3] = 1
    assert torch.equal(m[0], expected)
    assert torch.equal(m[1:], torch.ones(4, 7, 7))  # latent maps: full kernel
    conv_b = MaskedConv2d(4, 4, 3, mask_type="B", masked_channels=4)
    assert torch.equal(conv_b.mask[2, 3], torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="kernel_size"):
        MaskedConv2d(1, 1, 4, mask_type="A", masked_channels=1)


@pytest.mark.parametrize("gated", [False, True])
def test_pixelcnn_is_autoregressive(gated):
    torch.manual_seed(0)
    side, nz = 6, 3
    dec = PixelCNNDecoder(nz, channels=8, kernel_sizes=(5, 3, 3, 3), gated=gated, image_size=side).eval()
    P = side * side
    x0 = torch.rand(1, 1, side, side)
    # row b of the batch holds the same image; we differentiate logit b w.r.t. that row only
    x = x0.repeat(P, 1, 1, 1).requires_grad_(True)
    z = torch.randn(1, 1, nz).repeat(1, P, 1).requires_grad_(True)
    logits = dec.logits(x, z).reshape(P, P)  # [batch row b, pixel i]
    logits.diagonal().sum().backward()
    J = x.grad.reshape(P, P)  # J[i, j] = d logit_i / d x_j
    assert torch.all(J.triu() == 0), "a logit depends on its own pixel or a later one"
    for i in range(P):
        r, c = divmod(i, side)
        if c > 0:
            assert J[i, i - 1] != 0  # left neighbour
        if r > 0:
            assert J[i, i - side] != 0  # pixel above
    assert torch.all(z.grad.abs().sum(-1) > 0), "a logit does not depend on z"


@pytest.mark.parametrize("gated", [False, True])
def test_pixelcnn_likelihood_and_tiling(gated):
    torch.manual_seed(0)
    side, nz = 8, 3
    dec = PixelCNNDecoder(nz, channels=8, kernel_sizes=(5, 3, 3), gated=gated, image_size=side).eval()
    x = (torch.rand(4, 1, side, side) > 0.5).float()
    z = torch.randn(3, 4, nz)
    ll = dec.log_likelihood(x, z)
    assert ll.shape == (3, 4)
    # the reference's form from the Bernoulli means (docs/implementation.md §2.3)
    p = torch.sigmoid(dec.logits(x, z))
    ref = (x * torch.log(p + 1e-12) + (1 - x) * torch.log(1 - p + 1e-12)).sum(dim=(2, 3, 4))
    torch.testing.assert_close(ll, ref, rtol=1e-4, atol=1e-4)
    # tiling over S and the batch matches one (sample, image) at a time
    for s in range(3):
        for b in range(4):
            one = dec.log_likelihood(x[b : b + 1], z[s : s + 1, b : b + 1])
            torch.testing.assert_close(ll[s, b], one[0, 0], rtol=1e-5, atol=1e-4)


def test_pixelcnn_reference_architecture():
    dec = PixelCNNDecoder(32)
    assert len(dec.layers) == 12 and len(dec.skips) == 11
    assert [blk.main[3].kernel_size[0] for blk in dec.skips] == [7, 7, 7, 7, 5, 5, 5, 5, 3, 3, 3]
    assert dec.first[0].in_channels == 5 and dec.first[0].out_channels == 64
    assert dec.layers[0].main[0].out_channels == 32
    # short stacks: the skip path adapts (none below 3 layers) and they run
    for ks in [(3,), (3, 3), (3, 3, 3)]:
        small = PixelCNNDecoder(2, channels=4, kernel_sizes=ks, image_size=5)
        assert len(small.skips) == max(len(ks) - 2, 0)
        assert small.log_likelihood(torch.zeros(2, 1, 5, 5), torch.randn(3, 2, 2)).shape == (3, 2)
    with pytest.raises(ValueError, match="kernel_sizes"):
        PixelCNNDecoder(2, kernel_sizes=())
    with pytest.raises(ValueError, match="kernel_sizes"):
        PixelCNNDecoder(2, kernel_sizes=(7, 4))


@pytest.mark.parametrize("gated", [False, True])
def test_pixelcnn_learns(gated):
    torch.manual_seed(0)
    side, nz = 8, 3
    dec = PixelCNNDecoder(nz, channels=8, kernel_sizes=(5, 3, 3), gated=gated, image_size=side).train()
    x = (torch.rand(4, 1, side, side) > 0.5).float()
    z = torch.randn(1, 4, nz)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    before = -dec.log_likelihood(x, z).mean().item()
    for _ in range(6):
        opt.zero_grad()
        (-dec.log_likelihood(x, z).mean()).backward()
        opt.step()
    after = -dec.log_likelihood(x, z).mean().item()
    assert after < 0.8 * before
    # the stable form agrees with the logits of a saturated pixel (no -inf / nan)
    assert torch.isfinite(dec.log_likelihood(x, 50 * z)).all()


def test_pixelcnn_sample_shape():
    torch.manual_seed(0)
    dec = PixelCNNDecoder(2, channels=4, kernel_sizes=(3, 3), image_size=4).eval()
    x = dec.sample(torch.randn(3, 2), generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 1, 4, 4) and set(x.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="z must be"):
        dec.sample(torch.randn(3, 2, 2))


def test_log_likelihood_stable_form_equals_bce():
    # independent check of the per-pixel term: -BCE(sigmoid(l), x) summed, in float64
    torch.manual_seed(0)
    dec = PixelCNNDecoder(2, channels=4, kernel_sizes=(3,), image_size=5).double().eval()
    x = (torch.rand(2, 1, 5, 5) > 0.5).double()
    z = torch.randn(1, 2, 2, dtype=torch.float64)
    p = torch.sigmoid(dec.logits(x, z))[0]
    expected = -F.binary_cross_entropy(p, x, reduction="none").sum(dim=(1, 2, 3))
    torch.testing.assert_close(dec.log_likelihood(x, z)[0], expected)


def test_pixelcnn_skip_path_wiring():
    """The stack equals the skip-path description (docs/implementation.md §2.3), and every block gets a gradient."""
    torch.manual_seed(0)
    side, nz = 5, 2
    dec = PixelCNNDecoder(nz, channels=4, kernel_sizes=(3, 3, 3, 3, 3, 3), image_size=side).eval()
    x = (torch.rand(2, 1, side, side) > 0.5).float()
    z = torch.randn(1, 2, nz)
    # FIFO form: before layer i >= 3 pop the oldest output, pass it through the next skip block
    s = dec.latent(z[0]).view(2, dec.latent_maps, side, side)
    a = torch.cat([x, s], dim=1)
    fifo, skips = [], iter(dec.skips)
    for i, layer in enumerate([dec.first, *dec.layers]):
        if i >= 3:
            a = a + next(skips)(fifo.pop(0))
        a = layer(a) if i == 0 else layer(a, s)
        fifo.append(a)
    assert len(fifo) == 3
    a = a + next(skips)(fifo.pop(0))
    torch.testing.assert_close(dec.logits(x, z)[0], dec.head(a))
    dec.log_likelihood(x, z).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dec.parameters())
