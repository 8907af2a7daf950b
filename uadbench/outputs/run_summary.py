"""One run as a person reads it (``uadbench show``): status, settings, data, metrics,
warnings, timings, machine and code, and the command that reproduces it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uadbench.errors import UserError
from uadbench.running.record_store import read_record, scan_records
from uadbench.running.reproduce import reproduce_command, shell_line
from uadbench.running.run_record import RunRecord


class RunNotFoundError(UserError, LookupError):
    """No record, or more than one, answers to what the user named."""


def find_run(what: str, results_dir: Path) -> RunRecord:
    """The record at the path ``what``, or the one of ``method/dataset/seed`` under
    ``results_dir`` (the latest finished of that cell when there is one configuration)."""
    path = Path(what)
    if path.suffix == ".json" and path.is_file():
        return read_record(path)
    parts = what.split("/")
    if len(parts) != 3 or not parts[2].isdigit():
        raise RunNotFoundError(
            f"{what!r} is neither a record file nor method/dataset/seed (e.g. ae/zhanglab/0)"
        )
    method, dataset, seed = parts[0], parts[1], int(parts[2])
    found = [
        r
        for r in scan_records(results_dir).records
        if (r.config.method, r.config.dataset, r.config.seed) == (method, dataset, seed)
    ]
    if not found:
        raise RunNotFoundError(f"no record of {what} under {Path(results_dir) / 'runs'}")
    configurations = {r.config.row_key(r.fingerprint) for r in found}
    if len(configurations) > 1:
        paths = ", ".join(str(r.path) for r in found[:4])
        raise RunNotFoundError(
            f"{len(found)} records of {what} in {len(configurations)} settings ({paths}); "
            "name the record file"
        )
    return max(found, key=lambda r: r.finished_at or "")


def summary(
    record: RunRecord, data_defaults: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(label, text) lines describing ``record``."""
    c = record.config
    run = f"{c.method} ({c.profile}, {c.image_size} px) on {c.dataset}, split {c.split_version}"
    lines = [
        ("record", str(record.path)),
        ("status", record.state + (f" at {record.finished_at}" if record.finished_at else "")),
        ("run", f"{run}, seed {c.seed}"),
        ("parameters", _pairs(c.params)),
        ("changed", _pairs(record.changed_params) or "none (the profile's values)"),
        ("data options", _pairs(c.dataset_options)),
    ]
    if c.label_use:
        lines.append(("uses labels", c.label_use))
    if record.data:
        lines.append(("data", _data(record)))
        lines.append(("data folder", _folder(record)))
    if record.plugins:
        lines.append(("plugins", ", ".join(record.plugins)))
    if record.ok:
        lines.append(("metrics", _metrics(record.metrics)))
    if record.error:
        lines.append(("error", record.error.message))
    lines += [("warning", w) for w in record.warnings]
    lines += [
        ("timings", _pairs(record.timings) or "-"),
        ("machine", _machine(record)),
        ("code", _pairs(record.code) or "- (an installed package, or not recorded)"),
        ("versions", _pairs(record.versions)),
        ("reproduce", shell_line(reproduce_command(record, data_defaults))),
    ]
    return lines


def _data(record: RunRecord) -> str:
    d = record.data
    sizes = f"train {d.n_train}, val {d.n_val}, test {d.n_test}"
    return f"fingerprint {d.fingerprint or '-'}, {sizes}, {len(d.skipped or [])} left out"


def _folder(record: RunRecord) -> str:
    d = record.data
    if d.root is None:
        return "not recorded (generated data, or a record from before data folders were kept)"
    given = f"--data-root {d.data_root}" if d.data_root is not None else "the default data root"
    return f"{d.root} (from {given})"


def _metrics(metrics: dict[str, Any]) -> str:
    low, high = metrics.get("auroc_ci95") or (None, None)
    interval = f" (95% CI {100 * low:.1f}-{100 * high:.1f})" if low is not None else ""
    return (
        f"AUROC {100 * metrics['auroc']:.1f}{interval}, AP {100 * metrics['average_precision']:.1f}"
    )


def _machine(record: RunRecord) -> str:
    hardware = record.hardware
    machine = f"{hardware.get('device')}, {record.cpu_model}, {hardware.get('cpu_count')} cores"
    return machine + (f", {hardware['gpu']}" if hardware.get("gpu") else "")


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
