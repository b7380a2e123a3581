"""Plots of sweep records (reuse and accuracy loss against the threshold, like the paper's Figure 1)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

#: Marker styles of the policies, in the order they first appear in the records.
STYLES = ("o-", "s-", "^-", "v-", "D-", "x-", "P-", "*-")


def plot_sweep(records: list[dict], path, title: str = "") -> None:
    """Reuse and accuracy loss against the threshold, one line per ``policy`` of the records."""
    fig, (ax_reuse, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    policies = list(dict.fromkeys(r["policy"] for r in records))
    for k, policy in enumerate(policies):
        style = STYLES[k % len(STYLES)]
        recs = sorted((r for r in records if r["policy"] == policy), key=lambda r: r["threshold"])
        th = [r["threshold"] for r in recs]
        ax_reuse.plot(th, [100 * r["reuse"] for r in recs], style, label=policy)
        ax_loss.plot(th, [r["metric_loss"] for r in recs], style, label=policy)
    form = records[0].get("form", "relative") if records else "relative"
    for ax, label in ((ax_reuse, "reuse (% of neuron evaluations)"), (ax_loss, "accuracy loss (pp)")):
        ax.set_xlabel(f"threshold ({form})")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    ax_loss.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
