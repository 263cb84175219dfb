"""Analysis of the event dataset: loading, activity summaries, anomalies, charts.

Charts need the optional ``plot`` extra (matplotlib), imported only when drawn.
"""

from __future__ import annotations

from .activity import (
    ACTIONS,
    by_folder,
    by_owner,
    bytes_changed,
    extension_mix,
    infer_actions,
    timeline,
    top_directories,
    top_files,
)
from .anomalies import RANSOMWARE_EXTENSIONS, detect_anomalies, evidence
from .load import duckdb_relation, load, open_dataset, scan
from .plots import plot_anomalies, plot_heatmap, plot_timeline, plot_top_directories

__all__ = [
    "ACTIONS",
    "RANSOMWARE_EXTENSIONS",
    "by_folder",
    "by_owner",
    "bytes_changed",
    "detect_anomalies",
    "duckdb_relation",
    "evidence",
    "extension_mix",
    "infer_actions",
    "load",
    "open_dataset",
    "plot_anomalies",
    "plot_heatmap",
    "plot_timeline",
    "plot_top_directories",
    "scan",
    "timeline",
    "top_directories",
    "top_files",
]
