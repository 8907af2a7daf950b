"""The leaderboard and the run records as pandas DataFrames, for notebooks::

    import uadbench
    board = uadbench.load_leaderboard("results/zhanglab-quick")
    board.sort_values("auroc_mean", ascending=False)[["dataset", "name", "auroc_mean"]]

The leaderboard frame has the columns of ``uadbench leaderboard --format csv`` (fractions, lists
as lists); the records frame one row per record file that could be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from uadbench.outputs.exports import plain_row
from uadbench.outputs.leaderboard import build_leaderboard
from uadbench.running.record_store import scan_records


def load_leaderboard(results_dir: Path | str) -> pd.DataFrame:
    """One row per leaderboard row of the records under ``results_dir``."""
    found = scan_records(Path(results_dir))
    board = build_leaderboard(found.records, found.memo)
    return pd.DataFrame([plain_row(row) for row in board.rows])


def load_records(results_dir: Path | str) -> pd.DataFrame:
    """One row per run record under ``results_dir``: its configuration, state, metrics,
    timings and file (scores stay in the files)."""
    return pd.DataFrame([_flat(record) for record in scan_records(Path(results_dir)).records])


def _flat(record: Any) -> dict[str, Any]:
    return {
        **record.config.essentials(),
        "state": record.state,
        "data_fingerprint": record.fingerprint,
        "auroc": (record.metrics or {}).get("auroc"),
        "average_precision": (record.metrics or {}).get("average_precision"),
        "changed_params": dict(record.changed_params),
        "warnings": list(record.warnings),
        "wall_s": record.timings.get("wall_s"),
        "peak_memory_mb": record.timings.get("peak_memory_mb"),
        "finished_at": record.finished_at,
        "path": str(record.path),
    }
