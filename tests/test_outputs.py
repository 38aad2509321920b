"""Figures and tables land under $DUVAE_OUTPUT_DIR, tables with a Markdown twin."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from duvae.book.outputs import save_figure, save_table  # noqa: E402


def test_save_figure_and_table(tmp_path, monkeypatch):
    monkeypatch.setenv("DUVAE_OUTPUT_DIR", str(tmp_path))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = save_figure(fig, "demo")
    assert png == tmp_path / "figures" / "demo.png" and png.read_bytes()[:4] == b"\x89PNG"
    df = pd.DataFrame({"nll": [89.0123, 88.5]}, index=["vae", "du_vae"])
    csv = save_table(df, "demo_table")
    assert pd.read_csv(csv, index_col=0).loc["du_vae", "nll"] == 88.5
    md = csv.with_suffix(".md").read_text().splitlines()
    assert md[0].startswith("|") and "nll" in md[0] and "89.012" in md[2]
