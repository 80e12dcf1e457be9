"""Start-up of a plain fit: seconds from ``import neuroembed`` to the first training step, and what it imports.

Each repeat is a fresh Python process that imports torch (timed on its own: every torch program pays it), then
``import neuroembed``, then fits ``ne.Estimator(max_iterations=5, device="cpu")`` on a small recording (2,000 samples
x 50 neurons of Poisson counts with a 1-D behaviour, made with numpy before the clock starts). The first training
step is reported by a global optimiser step hook (``register_optimizer_step_post_hook`` of ``torch.optim.optimizer``). The
process also says whether torch's compiler (``torch._dynamo``) was imported and which ``torch.distributed`` modules
were imported after ``import torch`` (torch itself imports the package ``torch.distributed``). One more process runs
the same with ``python -X importtime`` and the table lists the cumulative import time of the packages that matter.

Run from the repository root::

    python benchmarks/startup.py                   # 7 repeats, writes results/startup.md
    python benchmarks/startup.py --quick --output -   # 2 repeats, prints only

To measure another checkout (say the last commit, exported with ``git archive``), put its folder first on
``PYTHONPATH``; the table says which ``neuroembed`` was imported.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import cpu_model, git_revision, package_version, write_output  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "startup.md"

PROBE = r"""
import json, sys, time
start = time.perf_counter()
import torch
torch_done = time.perf_counter()
with_torch = set(sys.modules)
import numpy as np
rng = np.random.default_rng(0)
X = rng.poisson(1.0, (2000, 50)).astype(np.float32)
y = np.cumsum(rng.normal(size=2000)).astype(np.float32)
first_step = []
from torch.optim.optimizer import register_optimizer_step_post_hook
register_optimizer_step_post_hook(lambda *args: first_step or first_step.append(time.perf_counter()))
t0 = time.perf_counter()
import neuroembed as ne
imported = time.perf_counter()
ne.Estimator(max_iterations=5, device="cpu", random_state=0).fit(X, y)
done = time.perf_counter()
watched = ("torch._dynamo", "torch.distributed", "torch._inductor", "sympy", "torch.utils.data")
print(json.dumps({
    "import_torch": torch_done - start,
    "import_neuroembed": imported - t0,
    "first_step": first_step[0] - t0,
    "fit_done": done - t0,
    "dynamo": "torch._dynamo" in sys.modules,
    "new_modules": sorted(m for m in set(sys.modules) - with_torch if m.startswith(watched)),
    "n_modules": len(sys.modules),
    "n_after_torch": len(set(sys.modules) - with_torch),
    "neuroembed": ne.__file__,
}))
"""

#: Packages whose cumulative ``-X importtime`` the table lists (top-level imports in the probe's process).
IMPORTTIME_PACKAGES = (
    "torch",
    "neuroembed",
    "sklearn",
    "scipy",
    "torch._dynamo",
    "torch.distributed",
    "sympy",
    "tqdm",
)


def run_probe(env: dict[str, str], importtime: bool = False) -> tuple[dict, str]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", PROBE]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the probe failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def importtime_rows(stderr: str) -> dict[str, tuple[int, str]]:
    """The first ``-X importtime`` line of each watched package: cumulative microseconds and the line as printed."""
    found: dict[str, tuple[int, str]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        name = parts[2]
        if name in IMPORTTIME_PACKAGES:
            # the outermost import of a package is printed last (its children first): keep the largest
            cumulative = int(parts[1])
            if name not in found or cumulative > found[name][0]:
                found[name] = (cumulative, line.strip())
    return found


def summary(values: list[float]) -> str:
    return f"{np.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repeats: a smoke test")
    parser.add_argument("--repeats", type=int, default=7, help="fresh processes to time")
    parser.add_argument(
        "--output", default=str(DEFAULT_OUTPUT), help="markdown file to write, or '-' to print only"
    )
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    if repeats < 1:
        raise ValueError(f"--repeats must be at least 1; got {repeats}.")
    env = dict(os.environ)
    load = os.getloadavg()
    runs = [run_probe(env)[0] for _ in range(repeats)]
    _, stderr = run_probe(env, importtime=True)
    rows = importtime_rows(stderr)
    last = runs[-1]
    lines = [
        "# Start-up of a plain fit" + (" (quick: not a benchmark)" if args.quick else ""),
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_model()}, "
        f"{os.cpu_count()} cores; load average before {load[0]:.2f}; Python {platform.python_version()}, "
        f"torch {package_version('torch')}, scikit-learn {package_version('scikit-learn')}; neuroembed "
        f"{git_revision()} from `{last['neuroembed']}`. {repeats} fresh processes; median [min, max].",
        "",
        '`ne.Estimator(max_iterations=5, device="cpu", random_state=0).fit(X, y)`, X 2000 x 50 Poisson counts, '
        "y 1-D; seconds after `import torch`, counted from the start of `import neuroembed`:",
        "",
        "| | seconds |",
        "|---|---|",
        f"| `import torch` (before the clock) | {summary([r['import_torch'] for r in runs])} |",
        f"| `import neuroembed` | {summary([r['import_neuroembed'] for r in runs])} |",
        f"| `import neuroembed` to the first step | {summary([r['first_step'] for r in runs])} |",
        f"| `import neuroembed` to the end of `fit` (5 steps) | {summary([r['fit_done'] for r in runs])} |",
        "",
        f"`torch._dynamo` imported: **{'yes' if last['dynamo'] else 'no'}**; modules imported after `import torch`: "
        f"{last['n_after_torch']} (of {last['n_modules']}); of those under torch._dynamo, torch.distributed, "
        f"torch._inductor, sympy, torch.utils.data: {len(last['new_modules'])}"
        + (
            f" (`{'`, `'.join(last['new_modules'][:8])}`{', ...' if len(last['new_modules']) > 8 else ''})"
            if last["new_modules"]
            else ""
        )
        + ".",
        "",
        "`python -X importtime` of the same process (cumulative microseconds of the outermost import of each "
        "package; absent: not imported):",
        "",
        "```",
        *(rows[name][1] for name in IMPORTTIME_PACKAGES if name in rows),
        "```",
    ]
    text = "\n".join(lines) + "\n"
    write_output(text, args.output)
    print(text)
    return text


if __name__ == "__main__":
    main()
