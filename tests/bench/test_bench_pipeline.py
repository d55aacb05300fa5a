"""``scripts/bench_pipeline.py``: its ``--rules-free`` ceiling must do the same work as the real pipeline.

The ceiling replays each processor call's recorded result instead of running the rules; it only measures what
it claims (everything but the rules) if every output byte and every stored state is the same. No timing is
asserted: the figures depend on the machine.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_pipeline.py"


def _run(*flags: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, str(SCRIPT), "--members", "300", "--repeat", "2", *flags],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    digest = re.search(r"^digest ([0-9a-f]{16})$", out, re.M)
    best = re.search(r"^(best[^:]*): [\d,]+ events/s", out, re.M)
    assert digest and best, out
    return digest.group(1), best.group(1)


def test_rules_free_replay_gives_the_pipelines_digest() -> None:
    real, label = _run()
    assert label == "best"
    free, free_label = _run("--rules-free", "--worker-gc")
    assert free_label == "best, rules free (the rules' results replayed), worker GC"
    assert free == real
    other_seed, _ = _run("--seed", "2")
    assert other_seed != real  # the digest covers the outputs: another population gives another one


def test_a_replay_out_of_step_with_the_recording_is_refused(tmp_path: Path) -> None:
    # The recording pass's digest is one of the compared digests: a replay that handed a record another
    # record's result (here: every result one call late) changes the outputs, and the script refuses.
    shim = tmp_path / "shim.py"
    shim.write_text(
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        f"sys.argv = [{str(SCRIPT)!r}, '--members', '300', '--repeat', '1', '--rules-free']\n"
        f"mod = runpy.run_path({str(SCRIPT)!r}, run_name='bench_pipeline')\n"
        "Recorded = mod['Recorded']\n"
        "start = Recorded.start_replay\n"
        "def late(self):\n"
        "    start(self)\n"
        "    self.replay = iter([self.steps[0], *self.steps])\n"
        "Recorded.start_replay = late\n"
        "mod['main']()\n"
    )
    res = subprocess.run([sys.executable, str(shim)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "results differ between repeats" in res.stderr, res.stdout + res.stderr
