"""Figure 6: a no-op `dvc repro` of the whole pipeline vs DVC's floor (as many `echo` stages)."""

from __future__ import annotations

from pathlib import Path

import yaml
from common import BIN, Figure, copy_project, environment, git_project, interleave, med, run

FLOOR_STAGE = "  s{i}:\n    cmd: echo {i} > out{i}.txt\n    deps: [{dep}]\n    outs: [out{i}.txt]\n"


def fig_noop(work: Path, reps: int, quick: bool) -> list[Figure]:
    dest = copy_project(work / "f6-pipeline")
    env = environment(dest)
    if quick:  # a smaller default feed and model: the no-op cost does not depend on their size
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params["simulate"]["days"] = 3
        params["train"]["hyperparams"]["max_iter"] = 20
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git_project(dest, env)
    run([str(BIN / "dvc"), "repro"], env, dest)  # the whole pipeline once (untimed)
    stages = len(yaml.safe_load((dest / "dvc.yaml").read_text())["stages"])
    floor = work / "f6-floor"
    floor.mkdir()
    (floor / "in.txt").write_text("x\n")
    body = "".join(
        FLOOR_STAGE.format(i=i, dep="in.txt" if i == 0 else f"out{i - 1}.txt") for i in range(stages)
    )
    (floor / "dvc.yaml").write_text("stages:\n" + body)
    git_init = [["git", "init", "-q", "-b", "main"], [str(BIN / "dvc"), "init", "-q"]]
    for cmd in [
        *git_init,
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "floor"],
        [str(BIN / "dvc"), "repro"],
    ]:
        run(cmd, env, floor)
    repro = [str(BIN / "dvc"), "repro"]
    res = interleave(
        reps, {"pipeline": lambda r: run(repro, env, dest), "floor": lambda r: run(repro, env, floor)}
    )
    ran = [line for line in res["pipeline"][-1].out.splitlines() if line.startswith("Running stage")]
    a, b = med(res["pipeline"]), med(res["floor"])
    return [
        Figure(
            "6 no-op dvc repro vs DVC floor",
            "pipeline",
            f"{a:.2f}s",
            "floor",
            f"{b:.2f}s",
            a / b,
            "<= 1.5",
            a / b <= 1.5,
            f"whole pipeline ({stages} stages, default simulated feed) vs {stages} `echo` stages with one "
            f"small dep/out each; median of {reps} interleaved; "
            + (f"STAGES RAN: {ran}" if ran else "nothing ran"),
        )
    ]
