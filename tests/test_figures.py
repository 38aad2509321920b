"""Figure 1 helpers: the aggregated posterior on the grid, and the window mass."""

import math

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from duvae.aggregate_posterior import aggregate_posterior_density, grid_mass, latent_grid, plot_latent_space  # noqa: E402


def test_aggregate_density_is_the_mixture_of_the_posteriors():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(7, 2, generator=g, dtype=torch.float64)
    var = torch.rand(7, 2, generator=g, dtype=torch.float64) + 0.1
    _, _, points = latent_grid(3.0, 11)
    got = aggregate_posterior_density(mu, var, points)
    comps = torch.distributions.Independent(torch.distributions.Normal(mu, var.sqrt()), 1)
    expected = comps.log_prob(points[:, None, :]).exp().mean(1)  # [M]
    assert torch.allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_grid_mass_of_a_standard_normal():
    lim, n = 3.0, 201
    _, _, points = latent_grid(lim, n)
    density = aggregate_posterior_density(torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64), points)
    inside = math.erf(lim / math.sqrt(2)) ** 2  # P(|X| < 3)^2
    assert abs(grid_mass(density, lim, n) - inside) < 5e-3


def test_plot_latent_space_draws_two_rows():
    _, _, points = latent_grid(3.0, 20)
    mu = torch.randn(30, 2, dtype=torch.float64)
    labels = torch.arange(30) % 5
    density = aggregate_posterior_density(mu, torch.ones_like(mu), points)
    fig = plot_latent_space({"true": (density, mu, labels), "model": (density, mu, labels)}, labels, mu, n_points=10)
    assert len(fig.axes) == 4
