#!/usr/bin/env bash
# The device check of issue 17: on a CUDA machine, in under 8 minutes on one GPU,
#   1. the tests parametrised over the CUDA device (pytest -k cuda over the files benchmarks/_device_tests.py lists),
#   2. the float32 equality of each custom training path with the module path (benchmarks/device_equality.py),
#   3. benchmarks/speed.py on CUDA (against CEBRA on CUDA where cebra is installed), when speed.py takes --device,
#      with the custom training paths as on CUDA by default (off) and on,
#   4. benchmarks/cuda_graph_probe.py: eager steps against the whole step captured in a CUDA graph, and the fits
#      not replayed from a graph by default tried with NEUROEMBED_CUDA_GRAPHS=force,
# each under its own timeout, writing its output under $OUT (if set) or benchmarks/results/device/, with a
# summary.md of the steps. Exit status: 0 when every step that ran passed, 1 otherwise, 2 on bad usage or no GPU.
#
# With --dry-run (or DRY_RUN=1) everything runs on the CPU at tiny sizes in well under a minute: the equality check
# on the CPU, a handful of training tests, and speed.py's --quick mode. tests/test_device_check.py runs the dry run
# in CI, so that the script cannot rot. Its outputs go to $OUT, else to a temporary folder (not into the checkout).
#
# Usage, from anywhere in the checkout:
#   bash benchmarks/device_check.sh              # on a machine with a CUDA GPU
#   bash benchmarks/device_check.sh --dry-run    # anywhere, on the CPU
# PYTHON=... picks the interpreter (default: python); GIT_REV=... names the commit where the checkout has no .git.
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run="${DRY_RUN:-0}"
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=1 ;;
        -h | --help)
            sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "device_check.sh: unknown argument '$arg' (expected --dry-run or --help)" >&2
            exit 2
            ;;
    esac
done
if [[ "$dry_run" != "0" && "$dry_run" != "1" ]]; then
    echo "device_check.sh: DRY_RUN must be 0 or 1; got '$dry_run'" >&2
    exit 2
fi

python="${PYTHON:-python}"
if [[ -n "${OUT:-}" ]]; then
    out="$OUT"
elif [[ "$dry_run" == 1 ]]; then
    out="$(mktemp -d)"
else
    out="benchmarks/results/device"
fi
mkdir -p "$out"
summary="$out/summary.md"

if [[ "$dry_run" == 1 ]]; then
    device=cpu
else
    device=cuda
    if ! "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "device_check.sh: no CUDA device here; run with --dry-run to check the script on the CPU" >&2
        exit 2
    fi
fi

{
    echo "# Device check ($([[ "$dry_run" == 1 ]] && echo "dry run on the CPU" || echo "CUDA"))"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $("$python" -c 'import torch; print("torch", torch.__version__, "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")')"
    echo "git $(git rev-parse --short HEAD 2>/dev/null || echo "${GIT_REV:-unknown}")$([[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo ' (modified)')"
    echo
    echo "| step | exit status | seconds | output |"
    echo "|---|---|---|---|"
} >"$summary"

failed=0
# run NAME SECONDS COMMAND...: COMMAND under a timeout, its stdout and stderr to $out/NAME.txt, a row in the summary
run() {
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    echo "+ [$name, at most ${limit} s] $*" >&2
    timeout --kill-after=10 "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    local took=$((SECONDS - start))
    local note=""
    [[ $rc == 124 || $rc == 137 ]] && note=" (timed out)"
    echo "| $name | $rc$note | $took | $name.txt |" >>"$summary"
    echo "  -> exit status $rc$note after $took s" >&2
    if [[ $rc != 0 ]]; then
        failed=1
        tail -n 30 "$out/$name.txt" >&2
    fi
}

help_of_speed="$("$python" benchmarks/speed.py --help 2>/dev/null || true)"
has_option() { grep -q -- "$1" <<<"$help_of_speed"; }

if [[ "$dry_run" == 1 ]]; then
    # the CUDA run's choice of test files, listed so that it is exercised here too
    run test-files 30 "$python" benchmarks/_device_tests.py
    run equality 60 "$python" benchmarks/device_equality.py --device cpu --quick --output "$out/equality.md"
    run tests 90 "$python" -m pytest -q -p no:randomly -p no:cacheprovider -m "not slow" -k "not offset36" \
        tests/test_optim.py tests/models/test_time_major.py \
        "tests/test_solver.py::test_solver_loss_counts_only_the_rows_asked_for"
    if has_option "--quick"; then
        # the quickest part (the head-to-head fits take minutes on a CPU even with --quick): the script imports,
        # parses its options, measures and writes its table
        args=(--quick --output -)
        has_option "--parts" && args+=(--parts sparse)
        run speed 90 "$python" benchmarks/speed.py "${args[@]}"
    else
        echo "| speed | skipped: speed.py has no --quick option | | |" >>"$summary"
    fi
else
    # only the test files whose tests or fixtures take the `device` fixture (benchmarks/_device_tests.py says why)
    mapfile -t device_tests < <("$python" benchmarks/_device_tests.py)
    if [[ ${#device_tests[@]} == 0 ]]; then
        echo "| tests | no test file takes the device fixture | | |" >>"$summary"
        failed=1
    else
        run tests 240 "$python" -m pytest -q -p no:randomly -p no:cacheprovider -m "not slow" -k cuda \
            --junitxml="$out/tests.xml" "${device_tests[@]}"
    fi
    run equality 100 "$python" benchmarks/device_equality.py --device cuda --output "$out/equality.md"
    if has_option "--device"; then
        run speed 150 "$python" benchmarks/speed.py --device cuda --parts head --repeats 3 --output "$out/speed.md"
        # the same with the custom paths on (off by default on CUDA): the evidence for or against turning them on
        run speed-custom 150 env NEUROEMBED_CUSTOM_PATHS=1 "$python" benchmarks/speed.py --device cuda --parts head \
            --repeats 3 --output "$out/speed-custom.md"
    else
        echo "| speed | skipped: speed.py has no --device option yet | | |" >>"$summary"
        echo "device_check.sh: speed.py has no --device option; the CUDA speed comparison was skipped" >&2
    fi
fi

if [[ "$dry_run" == 1 ]]; then
    run graph-probe 60 "$python" benchmarks/cuda_graph_probe.py --device cpu --quick
else
    run graph-probe 240 "$python" benchmarks/cuda_graph_probe.py --device cuda --explore --output "$out/graph-probe.md"
fi

echo >>"$summary"
echo "Outputs in $out." >>"$summary"
cat "$summary"
exit $failed
