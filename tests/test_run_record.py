"""The run record as a type: one home per field, explicit upgrades of older schemas, newer and
malformed records refused, and the documented schema in step with the type."""

import json
from pathlib import Path

import pytest

from uadbench.running.record_store import RecordStore, read_record, scan_records
from uadbench.running.run_record import (
    SCHEMA,
    NewerRecordError,
    RunRecord,
    schema_table,
)

REPO = Path(__file__).resolve().parents[1]
COMMITTED = sorted((REPO / "results").glob("**/runs/*/*/*.json"))  # runs/DATASET/METHOD/


def a_committed_record() -> dict:
    """The first committed record of schema 1, the oldest: it is read through every upgrade."""
    raws = (json.loads(path.read_text()) for path in COMMITTED)
    return next(raw for raw in raws if raw["schema"] == "uadbench.run/1")


def test_every_committed_record_reads_and_keeps_its_cell():
    assert len(COMMITTED) >= 30
    for path in COMMITTED:
        record = read_record(path)
        raw = json.loads(path.read_text())
        if "config_hash" in raw:  # an older schema, with copies that must agree
            assert record.config.hash == raw["config_hash"]  # the file name's hash, recomputed
            assert record.config.image_size == raw["image_size"] == raw["config"]["image_size"]
        else:
            assert record.config.image_size == raw["config"]["params"]["image_size"]
        results = path.parents[3]
        assert RecordStore(results).cell(record.config).path == path


def test_an_upgraded_record_is_written_with_each_field_once(tmp_path):
    record = RunRecord.from_json(a_committed_record())
    written = record.to_json()
    assert written["schema"] == SCHEMA
    for copy in ("method", "dataset", "seed", "image_size", "profile", "config_hash"):
        assert copy not in written
    assert "image_size" not in written["config"] and "image_size" in written["config"]["params"]
    again = RunRecord.from_json(json.loads(json.dumps(written)))
    assert again == record


@pytest.mark.parametrize(
    ("schema", "edit", "reason"),
    [
        (1, lambda r: r.update(seed=r["seed"] + 1), "top-level seed differs"),
        (1, lambda r: r["config"].update(image_size=999), "image_size differs"),
        (1, lambda r: r.update(config_hash="0" * 12), "config_hash does not match"),
        (3, lambda r: r.update(surprise=1), "fields this schema does not: surprise"),
        (3, lambda r: r["config"].pop("dataset_options"), "its config lacks dataset_options"),
        (3, lambda r: r["config"]["params"].pop("image_size"), "params have no image_size"),
        (3, lambda r: r.pop("test"), "without test ids"),
        (3, lambda r: r.update(status="done"), "status 'done'"),
        (3, lambda r: r.update(schema="other/1"), "not a uadbench.run record"),
        (3, lambda r: r.update(metrics=[0.5]), "its metrics is not a mapping"),
        (3, lambda r: r.update(changed_params=None), "its changed_params is not a mapping"),
        (3, lambda r: r["config"].update(params=[1]), "its config.params is not a mapping"),
        (3, lambda r: r["test"].update(scores="0.5"), "its test.scores is not a list"),
    ],
)
def test_a_malformed_or_inconsistent_record_is_refused_naming_why(schema, edit, reason):
    raw = a_committed_record()
    assert raw["schema"] == "uadbench.run/1"
    if schema == 3:
        raw = json.loads(json.dumps(RunRecord.from_json(raw).to_json()))
    edit(raw)
    with pytest.raises(ValueError, match=reason):
        RunRecord.from_json(raw)


def test_a_newer_schema_is_refused():
    raw = {**a_committed_record(), "schema": "uadbench.run/99"}
    with pytest.raises(NewerRecordError, match="newer uadbench"):
        RunRecord.from_json(raw)


def test_consumers_see_the_same_records_whatever_schema_they_were_written_in(tmp_path):
    source = COMMITTED[0]
    old = tmp_path / "old" / source.relative_to(source.parents[3])
    new = tmp_path / "new" / source.relative_to(source.parents[3])
    for path in (old, new):
        path.parent.mkdir(parents=True)
    old.write_text(source.read_text())
    new.write_text(json.dumps(read_record(source).to_json()))
    [a], [b] = scan_records(tmp_path / "old").records, scan_records(tmp_path / "new").records
    assert a == b and a.path != b.path


def test_the_documented_schema_is_the_type():
    documented = (REPO / "docs" / "RUN_RECORD.md").read_text()
    assert schema_table() in documented, "regenerate docs/RUN_RECORD.md from schema_table()"


def test_a_malformed_record_is_named_by_every_board_command_not_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from uadbench.cli import app

    source = COMMITTED[0]
    raw = RunRecord.from_json(json.loads(source.read_text())).to_json()
    raw["metrics"] = [0.5]
    bad = tmp_path / "runs" / "zhanglab" / "ae" / source.name
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps(raw))
    for command in (["leaderboard"], ["plot"], ["report"]):
        result = CliRunner().invoke(app, [*command, "--results-dir", str(tmp_path)])
        assert result.exit_code in (1, 2) and "Traceback" not in result.output, command
        assert "metrics is not a mapping" in result.output or "no finished runs" in result.output


def test_a_board_of_a_data_set_without_records_says_so(tmp_path):
    from typer.testing import CliRunner

    from uadbench.cli import app

    command = ["leaderboard", "--results-dir", str(tmp_path), "--dataset", "nih"]
    result = CliRunner().invoke(app, command)
    assert "no run records of nih under" in result.output


def test_a_metric_added_to_the_table_later_reaches_old_records(monkeypatch):
    # a new run-time metric is one entry: records made before it still read, and the board
    # computes it from their scores instead of refusing them
    from uadbench.outputs import leaderboard
    from uadbench.statistics.metrics import METRICS, Metric, auroc

    twin = Metric("auroc_again", None, lambda y, s, _: auroc(y, s), formats=())
    monkeypatch.setattr(leaderboard, "METRICS", (*METRICS, twin))
    records = [read_record(p) for p in COMMITTED if "zhanglab-quick" in str(p)]
    board = leaderboard.build_leaderboard(records)
    for row in board.rows:
        assert row.values["auroc_again"] == pytest.approx(row.values["auroc"])
