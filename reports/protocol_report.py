"""The protocol's report (`experiment=paper`): the leaderboard of its finals in OUTPUT_ROOT/report/.

Only the finals of the protocol's grid are read (not every record under OUTPUT_ROOT: tuning trials,
earlier winners' finals and other sweeps stay out). `protocol.json` beside the report names what it
was built from (grid, trials, seeds and each final's status); a relaunch whose finals are the same
leaves the report alone and says so. A report of another grid is moved aside (`report.earlier-<n>`),
never overwritten.
"""
from __future__ import annotations

import datetime
import logging
from pathlib import Path

from bench.storage.files import write_json_atomically
from bench.run.record import RESULT_FILE
from bench.storage.state_files import UnreadableStateFile, read_json_object
from reports.leaderboard import SECTION_BUILDERS, write_report
from reports.records import load_records

log = logging.getLogger("bench")

REPORT_DIR = "report"
MANIFEST_FILE = "protocol.json"


def report_inputs(run_dirs: list[Path]) -> dict:
    """Each final's run folder name -> its status (`missing` without a record) and attempt: what the report
    is built from."""
    inputs = {}
    for run_dir in run_dirs:
        try:
            record = read_json_object(Path(run_dir) / RESULT_FILE) or {}
        except UnreadableStateFile:
            record = {}
        inputs[Path(run_dir).name] = {"status": record.get("status", "missing"), "started": record.get("started")}
    return inputs


def write_protocol_report(output_root: Path, run_dirs: list[Path], protocol: dict) -> tuple[Path, bool]:
    """(the report's index.html, whether it was written now); `protocol`: grid, trials, seeds, command."""
    out = Path(output_root) / REPORT_DIR
    manifest = {**protocol, "finals": report_inputs(run_dirs)}
    previous = _read_manifest(out)
    if previous is not None and _same(previous, manifest) and (out / "index.html").is_file():
        return out / "index.html", False
    if out.exists() and (previous is None or not _same_grid(previous, manifest)):
        aside = _free_name(out)
        out.rename(aside)
        log.warning("the report in %s is of another grid; moved to %s", out, aside)
    records = load_records([d for d in run_dirs if (Path(d) / RESULT_FILE).is_file()])
    stamped = {**manifest, "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_report(records, out, section_builders=[_protocol_section(stamped), *SECTION_BUILDERS])
    write_json_atomically(out / MANIFEST_FILE, stamped)
    return out / "index.html", True


def _protocol_section(manifest: dict):
    def section(records: list[dict], out_dir: Path) -> list[dict]:
        statuses: dict[str, int] = {}
        for final in manifest["finals"].values():
            statuses[final["status"]] = statuses.get(final["status"], 0) + 1
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        return [{"title": "Protocol", "markdown": "\n".join([
            f"- written {manifest['written']} by `{manifest['command']}`",
            f"- {len(manifest['grid'])} cells, each tuned on validation data by a study of {manifest['trials']} "
            f"trials (tuning seed {manifest['tuning_seed']}), then its winner run on seeds 1-{manifest['seeds']}",
            f"- finals: {counts}"])}]
    return section


def _read_manifest(out: Path) -> dict | None:
    try:
        return read_json_object(out / MANIFEST_FILE)
    except UnreadableStateFile:
        return None


def _same_grid(a: dict, b: dict) -> bool:
    return all(a.get(key) == b.get(key) for key in ("grid", "trials", "seeds", "tuning_seed"))


def _same(a: dict, b: dict) -> bool:
    return _same_grid(a, b) and a.get("finals") == b.get("finals")


def _free_name(out: Path) -> Path:
    numbers = [int(p.name.rsplit("-", 1)[1]) for p in out.parent.glob(f"{out.name}.earlier-*")
               if p.name.rsplit("-", 1)[1].isdigit()]
    return out.parent / f"{out.name}.earlier-{max(numbers, default=0) + 1}"
