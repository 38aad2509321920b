r"""Figure 1 of the paper: the latent space of the 2-D synthetic data set (docs/implementation.md §7.1).

Top row: the aggregated posterior :math:`q(z) = \frac1N \sum_n \mathcal{N}(z; \mu_n, \mathrm{diag}\,\sigma^2_n)`
(paper section 4.3) on a regular grid over :math:`[-3, 3]^2`, one colour scale for every panel;
the first panel is the true 5-component mixture that generated the data. Bottom row: the posterior
means :math:`\mu_n` coloured by the mixture component of each sentence (blue = the central one).
"""

from __future__ import annotations

import math

import torch

from duvae.metrics import log_aggregate_posterior

COMPONENT_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")  # 0 = centre


def latent_grid(lim: float = 3.0, n: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(xs [n], ys [n], points [n*n, 2])``: a regular grid over ``[-lim, lim]^2`` (row-major in y)."""
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    return axis, axis, torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def aggregate_posterior_density(mu: torch.Tensor, var: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """:math:`q(z)` at ``points [M, 2]`` from the posteriors ``mu, var [N, 2]`` (a logsumexp over n)."""
    return log_aggregate_posterior(points, mu, var).exp()


def grid_mass(density: torch.Tensor, lim: float, n: int) -> float:
    """Riemann sum of a density on :func:`latent_grid`: the probability mass inside the window."""
    cell = (2 * lim / (n - 1)) ** 2
    return float(density.sum() * cell)


def plot_latent_space(panels: dict, labels_true, z_true, lim: float = 3.0, n_points: int = 500, seed: int = 0):
    """Draw Figure 1.

    ``panels``: ``{title: (density [n*n], mu [N, 2], labels [N])}`` in display order, the first
    entry being the true density (its scatter uses ``z_true``/``labels_true``, the generating
    latents). Densities must come from :func:`latent_grid` with the same ``lim``. At most
    ``n_points`` means per panel are drawn (a seeded random subset, as He et al. plot 500).
    """
    import matplotlib.pyplot as plt

    n_grid = int(math.isqrt(next(iter(panels.values()))[0].numel()))
    xs, ys, _ = latent_grid(lim, n_grid)
    vmax = max(float(p[0].max()) for p in panels.values())
    fig, axes = plt.subplots(2, len(panels), figsize=(3.0 * len(panels), 6.2), squeeze=False)
    gen = torch.Generator().manual_seed(seed)
    for col, (title, (density, mu, labels)) in enumerate(panels.items()):
        top, bottom = axes[0, col], axes[1, col]
        top.contourf(xs.numpy(), ys.numpy(), density.reshape(n_grid, n_grid).numpy(), levels=30,
                     cmap="viridis", vmin=0.0, vmax=vmax)
        top.set_title(title)
        points, lab = (z_true, labels_true) if col == 0 else (mu, labels)
        keep = torch.randperm(len(points), generator=gen)[:n_points]
        for k, colour in enumerate(COMPONENT_COLOURS):
            sel = keep[lab[keep] == k]
            bottom.scatter(points[sel, 0], points[sel, 1], s=4, c=colour, alpha=0.7, label=f"component {k}")
        for ax in (top, bottom):
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xticks([-3, 0, 3])
            ax.set_yticks([-3, 0, 3])
    axes[1, 0].legend(fontsize=6, loc="lower left", markerscale=2)
    axes[0, 0].set_ylabel("aggregated posterior q(z)")
    axes[1, 0].set_ylabel("posterior means")
    fig.tight_layout()
    return fig
