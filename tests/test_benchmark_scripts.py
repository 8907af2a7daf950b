"""The benchmark scripts' own logic, without their long runs."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_scaling_reports_rows_an_interrupted_invocation_measured_without_running_them(tmp_path):
    out = tmp_path / "scaling.md"
    measured = [
        {"method": "ae", "n_train": n, "command": f"uadbench run ... {n}", "process_s": 1.0,
         "status": "ok", "fit_s": 0.01 * n, "peak_memory_mb": 100.0 + n, "auroc": 0.75,
         "image_size": 64}
        for n in (250, 500)
    ] + [{"method": "ae", "n_train": 1000, "command": "uadbench run ... 1000", "process_s": 2.0,
          "status": "failed", "error": "out of memory"}]  # fmt: skip
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in measured))
    command = [sys.executable, str(SCRIPTS / "scaling.py"), "--out", str(out)]
    command += ["--methods", "ae", "--sizes", "250,500,1000"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    text = out.read_text()
    assert "| ae | reconstruction | 64 | 500 | 5.0 | 600 | 75.0 |" in text
    assert "| ae | reconstruction | | 1,000 | failed | | out of memory |" in text
    assert "| ae | 1.00 | " in text  # fit time doubles with the images: slope 1
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_suffix(".pdf").exists()
    # nothing was measured again: the rows file still holds the three rows it was given
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 3
