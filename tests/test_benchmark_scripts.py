"""The benchmark scripts' own logic, without their long runs."""

import json
import re
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def _scaling_rows() -> list[dict]:
    """Rows as an interrupted invocation of ``scaling.py`` on this machine left them."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from scaling import _machine
    finally:
        sys.path.remove(str(SCRIPTS))
    done = {"command": "uadbench run ...", "process_s": 1.0, "params": [], "machine": _machine()}
    return [
        done | {"method": "ae", "n_train": n, "status": "ok", "fit_s": 0.01 * n,
                "peak_memory_mb": 100.0 + n, "auroc": 0.75, "image_size": 64}
        for n in (250, 500)
    ] + [done | {"method": "ae", "n_train": 1000, "status": "failed",
                 "error": "out of memory"}]  # fmt: skip


def _run_scaling(out: Path, methods: str, sizes: str, *extra: str) -> str:
    command = [sys.executable, str(SCRIPTS / "scaling.py"), "--out", str(out)]
    command += ["--methods", methods, "--sizes", sizes, *extra]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return out.read_text()


def test_scaling_reports_rows_an_interrupted_invocation_measured_without_running_them(tmp_path):
    out = tmp_path / "scaling.md"
    measured = _scaling_rows()
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in measured))
    text = _run_scaling(out, "ae", "250,500,1000")
    assert "| ae | reconstruction | 64 | 500 | 5.0 | 600 | 75.0 |" in text
    assert "| ae | reconstruction | | 1,000 | failed | | out of memory |" in text
    assert "| ae | 1.00 | " in text  # fit time doubles with the images: slope 1
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_suffix(".pdf").exists()
    # nothing was measured again: the rows file still holds the three rows it was given
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 3


def test_scaling_measures_again_a_row_of_other_parameters_or_another_machine(tmp_path):
    out = tmp_path / "scaling.md"
    elsewhere, other_params = (row | {"method": "no-such-method"} for row in _scaling_rows()[:2])
    elsewhere["machine"] = "another machine"
    other_params["params"] = ["epochs=1"]
    out.with_suffix(".jsonl").write_text(
        json.dumps(elsewhere) + "\n" + json.dumps(other_params) + "\n"
    )
    text = _run_scaling(out, "no-such-method", "250,500")
    # both measured again (and failing fast: the method does not exist), neither reused
    assert text.count("| no-such-method | other | | ") == 2 and "75.0" not in text
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 4


def test_scaling_measures_again_what_it_is_told_to_and_lists_the_earlier_rows(tmp_path):
    out = tmp_path / "scaling.md"
    saved = [row | {"method": "no-such-method"} for row in _scaling_rows()]
    saved[0]["code"] = {"commit": "0123456789abcdef", "uncommitted_changes": False}
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in saved))
    text = _run_scaling(out, "no-such-method", "250,500", "--again", "no-such-method")
    table, earlier = text.split("Earlier measurements")
    assert table.count("| no-such-method | other | | ") == 2 and "75.0" not in table
    assert "| no-such-method | 250 | 0123456 | fit 2.5 s, peak 350 MiB |" in earlier
    assert "| no-such-method | 500 | unknown | fit 5.0 s, peak 600 MiB |" in earlier
    assert "1,000" not in earlier  # a cell this invocation did not measure is not listed
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 5


def test_scaling_says_a_run_killed_by_the_kernel_was_killed_not_its_last_progress_bar():
    sys.path.insert(0, str(SCRIPTS))
    try:
        from scaling import failure
    finally:
        sys.path.remove(str(SCRIPTS))
    bar = "Selecting Coreset Indices.:  36%|###   | 1146/3199"
    killed = subprocess.CompletedProcess([], -9, "", bar)
    assert failure(killed).startswith("killed by SIGKILL: out of memory")
    assert (
        failure(subprocess.CompletedProcess([], 1, "", "x\nValueError: no\n")) == "ValueError: no"
    )


def test_leaderboard_runs_lists_a_failed_run_keeps_the_board_and_exits_non_zero(tmp_path):
    board = tmp_path / "leaderboard.md"
    board.write_text("the board before this batch\n")
    unreadable = tmp_path / "runs" / "synthetic" / "ae" / "cut-short.json"
    unreadable.parent.mkdir(parents=True)
    unreadable.write_text("{")  # the leaderboard refuses to build with it
    command = [sys.executable, str(SCRIPTS / "leaderboard_runs.py"), "--results-dir", str(tmp_path)]
    command += ["--dataset", "synthetic", "--run", "no-such-method:0", "--no-report"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    listed = (tmp_path / "COMMANDS.md").read_text()
    assert re.search(
        r"`uadbench run --method no-such-method --dataset synthetic [^`]*` \| 2 \|", listed
    )
    assert board.read_text() == "the board before this batch\n"
    assert "could not be read" in done.stderr and "failed (exit 2)" in done.stderr


def test_anatomy_comparison_by_finding_is_each_seeds_auroc_of_normals_against_that_finding():
    from sklearn.metrics import roc_auc_score

    from uadbench.data.readers.synthetic import SyntheticChest
    from uadbench.running.record_store import scan_records

    results = SCRIPTS.parent / "results" / "anatomy" / "synthetic"
    command = [sys.executable, str(SCRIPTS / "anatomy_comparison.py"), "--results-dir"]
    command += [str(results), "--dataset", "synthetic", "--by-finding"]
    text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    per_finding = text.split("against each kind of finding")[1].splitlines()
    [header] = [line for line in per_finding if line.startswith("| row | ")]
    [cutpaste] = [line for line in per_finding if line.startswith("| CutPaste | ")]
    cells = [line.strip("| ").split(" | ") for line in (header, cutpaste)]
    column = cells[0].index("nodule")
    finding = dict(SyntheticChest().split_table()[["id", "finding"]].values)
    records = [r for r in scan_records(results).records if r.config.method == "cutpaste"]
    aurocs = []
    for record in records:
        keep = [finding[i] in ("normal", "nodule") for i in record.test.ids]
        labels = [label for label, k in zip(record.test.labels, keep, strict=True) if k]
        scores = [score for score, k in zip(record.test.scores, keep, strict=True) if k]
        aurocs.append(roc_auc_score(labels, scores))
    assert len(records) == 3
    assert cells[1][column] == f"{100 * sum(aurocs) / 3:.1f}"
