#!/usr/bin/env python3
"""Run PM2's own end-to-end scripts against pmx (and against PM2 itself, to compare).

PM2's scripts and fixtures are not part of this repository: point this tool at a PM2
checkout (`git clone https://github.com/Unitech/pm2`). For each selected script it copies
the checkout's `test/` into a fresh scratch directory, puts `bin/pm2` (and `bin/pm2-runtime`,
`bin/pm2-dev`) beside it, and runs the script unchanged, the way PM2's own `test/e2e.sh`
does: `bash test/e2e/<dir>/<script>.sh` from the scratch directory, with a private HOME
and PM2_HOME (`$HOME/.pm2`), under a time limit. Against pmx the shims exec pmx with
`PMX_HOME=$PM2_HOME`; against PM2 they exec the PM2 found on PATH.

After each script the daemon is stopped (`bin/pm2 kill`, then SIGKILL to the pid in the
daemon's pid file) and any process left that carries this run's marker in its environment
is killed by pid. A `pkill` on PATH that only reaches this run's processes stands in for
the system one (two of PM2's scripts call `pkill -f`).

Results (per script and target: pass, fail or timeout, the checks that passed, the first
failing check) are printed as a table and kept in a JSON file and a markdown file; a later
run with the same `--out` updates them script by script.

Usage: run.py PM2_CHECKOUT [SCRIPT|DIR ...] [--against pmx|pm2|both] [--pmx PATH]
              [--timeout SECONDS] [--out PREFIX] [--list] [--include-unsafe]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOL_DIR = Path(__file__).resolve().parent
REPO_ROOT = TOOL_DIR.parent.parent

# Scripts that act on the machine outside their scratch directory. Skipped unless
# --include-unsafe (and then only on a disposable machine).
UNSAFE = {
    "docker.sh": "kills every running Docker container on the machine and builds images",
    "misc/startup.sh": "as root, writes and removes init scripts in /etc/init.d",
}

# Scripts that sleep for minutes by design: they get at least this many seconds.
SLOW = {
    "internals/infinite-loop.sh": 480,  # waits 200 s, then 160 s, for restart loops
    "logs/log-entire.sh": 300,  # about 180 s on PM2 on two busy cores
}

PASS_MARK = "------------> \u2714"
FAIL_RE = re.compile(r"######## \u2718 (.*)")
MARKER_VAR = "PM2E2E_RUN"
# Error lines of pmx ("pmx: ...") and PM2 ("[PM2][ERROR] ..."), kept to help tell why.
ERROR_RE = re.compile(r"^(pmx: |\[PM2\]\[ERROR\])")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")

PKILL_GUARD = r"""#!/usr/bin/env bash
# Stand-in for pkill that signals only the processes of this test run: those whose
# environment holds PM2E2E_RUN with this run's value.
sig=TERM
args=()
for a in "$@"; do
  case "$a" in
    -[0-9]*|-[A-Z]*) sig="${a#-}" ;;
    *) args+=("$a") ;;
  esac
done
found=1
for pid in $(pgrep "${args[@]}"); do
  [ "$pid" = "$$" ] && continue
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qxF "PM2E2E_RUN=$PM2E2E_RUN"; then
    kill -s "$sig" "$pid" 2>/dev/null && found=0
  fi
done
exit $found
"""


def shim(exec_line):
    """A bin/ shim script: PM2_HOME defaults to $HOME/.pm2, as PM2 does."""
    return (
        "#!/usr/bin/env bash\n"
        ': "${PM2_HOME:=$HOME/.pm2}"\n'
        "export PM2_HOME\n"
        f"{exec_line}\n"
    )


def shims_for(target, pmx):
    """Map bin/<name> -> shim text for the target ("pmx" or "pm2")."""
    if target == "pmx":
        q = shell_quote(str(pmx))
        return {
            "pm2": shim(f'PMX_HOME="$PM2_HOME" exec {q} "$@"'),
            "pm2-runtime": shim(f'PMX_HOME="$PM2_HOME" exec {q} run "$@"'),
            "pm2-dev": shim(f'PMX_HOME="$PM2_HOME" exec {q} dev "$@"'),
        }
    out = {}
    for name in ("pm2", "pm2-runtime", "pm2-dev"):
        real = shutil.which(name)
        if real is None:
            out[name] = shim(f'echo "{name}: not installed" >&2; exit 127')
        else:
            out[name] = shim(f'exec {shell_quote(real)} "$@"')
    return out


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def all_scripts(e2e):
    return sorted(
        str(p.relative_to(e2e))
        for p in e2e.rglob("*.sh")
        if p.name != "include.sh" and not p.name.startswith(".") and p.is_file()
    )


def select(e2e, wanted, include_unsafe):
    """Scripts to run (relative to test/e2e) and the skipped ones with their reason."""
    everything = all_scripts(e2e)
    if wanted:
        chosen = []
        for w in wanted:
            w = w.strip("/")
            for prefix in ("test/e2e/", "e2e/"):
                if w.startswith(prefix):
                    w = w[len(prefix):]
            hits = [s for s in everything if s == w or s.startswith(w + "/")]
            if not hits:
                sys.exit(f"run.py: {w}: no such script or directory under {e2e}")
            chosen += [h for h in hits if h not in chosen]
    else:
        chosen = everything
    skipped = {}
    if not include_unsafe:
        for s in chosen:
            if s in UNSAFE:
                skipped[s] = UNSAFE[s]
        chosen = [s for s in chosen if s not in skipped]
    return chosen, skipped


def marked_pids(marker_value):
    """Pids of processes whose environment carries this run's marker."""
    want = f"{MARKER_VAR}={marker_value}".encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            continue
    return pids


def cleanup(run_dir, env, target):
    """Stop the daemon of one run and every process left with its marker."""
    notes = []
    try:
        subprocess.run(
            [str(run_dir / "bin" / "pm2"), "kill"],
            cwd=run_dir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
        )
    except subprocess.TimeoutExpired:
        notes.append("kill timed out")
    home = Path(env["PM2_HOME"])
    pid_file = home / ("pmx.pid" if target == "pmx" else "pm2.pid")
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        notes.append(f"daemon {pid} killed after kill")
    except (OSError, ValueError):
        pass
    left = marked_pids(env[MARKER_VAR])
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if left:
        notes.append(f"{len(left)} leftover process(es) killed")
    return notes


def run_one(src_test, script, target, pmx, timeout, scratch):
    slug = script.replace("/", "__").removesuffix(".sh")
    run_dir = scratch / target / slug
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    shutil.copytree(src_test, run_dir / "test", symlinks=True)
    bin_dir = run_dir / "bin"
    bin_dir.mkdir()
    for name, text in shims_for(target, pmx).items():
        p = bin_dir / name
        p.write_text(text)
        p.chmod(0o755)
    guard = run_dir / "guard"
    guard.mkdir()
    (guard / "pkill").write_text(PKILL_GUARD)
    (guard / "pkill").chmod(0o755)
    home = run_dir / "home"
    home.mkdir()

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PM2_", "PMX_", "NODE_APP_INSTANCE", "pm_"))}
    env.update({
        "HOME": str(home),
        "PM2_HOME": str(home / ".pm2"),
        "PATH": f"{guard}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        MARKER_VAR: str(run_dir),
    })
    log = run_dir / "output.log"
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.run(
            ["timeout", "-k", "10", str(timeout), "bash", f"test/e2e/{script}"],
            cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT,
        )
    seconds = round(time.monotonic() - start, 1)
    notes = cleanup(run_dir, env, target)
    text = log.read_text(errors="replace")
    passed = text.count(PASS_MARK)
    m = FAIL_RE.search(text)
    if proc.returncode in (124, 137):
        status = "timeout"
    elif proc.returncode == 0 and not m:
        status = "pass"
    else:
        status = "fail"
    first = m.group(1).strip() if m else None
    if status == "fail" and first is None:
        tail = [l for l in text.splitlines() if l.strip()]
        first = f"exit {proc.returncode}" + (f": {tail[-1].strip()[:200]}" if tail else "")
    errors = []
    for line in text.splitlines():
        line = ANSI_RE.sub("", line).strip()
        if ERROR_RE.match(line) and line not in errors:
            errors.append(line[:300])
    errors = [e for e in errors if '"link"' not in e]
    return {
        "status": status, "exit": proc.returncode, "checks_passed": passed,
        "first_failure": first, "seconds": seconds, "log": str(log),
        "errors": errors[:8], "cleanup": notes,
    }


def cell(r, flag_errors=False):
    if r is None:
        return "-"
    s = f"{r['status']} ({r['checks_passed']} ok"
    errs = [e for e in r.get("errors", []) if not e.startswith("pmx: warning")]
    if flag_errors and r["status"] == "pass" and errs:
        # A check can pass on nothing: `should ... 0` when the command it reads failed.
        s += f", but {len(errs)} error line(s): check"
    return s + ")"


def telling_error(errors):
    """The error line most likely to say why: not include.sh's `pm2 link delete`, and
    `prettylist` (which every check calls) only when nothing else failed."""
    rest = [e for e in errors if '"link"' not in e]
    other = [e for e in rest if '"prettylist"' not in e]
    hard = [e for e in other if not e.startswith("pmx: warning")]
    return (hard or other or rest or [""])[0]


def write_outputs(results, out_prefix, skipped):
    data = {"results": results, "skipped": skipped}
    Path(str(out_prefix) + ".json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "| script | PM2 | pmx | pmx: first failing check | pmx: first error line |",
        "|---|---|---|---|---|",
    ]
    for script in sorted(results):
        r = results[script]
        pmx = r.get("pmx")
        why = err = ""
        if pmx and pmx["status"] != "pass":
            why = (pmx["first_failure"] or pmx["status"]).replace("|", "\\|")
            err = telling_error(pmx.get("errors") or []).replace("|", "\\|")
        lines.append(f"| {script} | {cell(r.get('pm2'))} | {cell(pmx, True)} | {why} | {err} |")
    for s, reason in sorted(skipped.items()):
        lines.append(f"| {s} | skipped | skipped | unsafe here: {reason} | |")
    counts = {}
    for t in ("pm2", "pmx"):
        rs = [r[t] for r in results.values() if r.get(t)]
        counts[t] = {k: sum(1 for x in rs if x["status"] == k)
                     for k in ("pass", "fail", "timeout")}
    summary = "; ".join(
        f"{t}: {c['pass']} pass, {c['fail']} fail, {c['timeout']} timeout"
        for t, c in counts.items()
    )
    Path(str(out_prefix) + ".md").write_text(
        "# PM2 e2e scripts: PM2 vs pmx\n\n" + summary + "\n\n" + "\n".join(lines) + "\n"
    )
    return "\n".join(lines) + "\n\n" + summary


def main():
    ap = argparse.ArgumentParser(
        description="Run PM2's e2e scripts (from a PM2 checkout) against pmx and/or PM2.")
    ap.add_argument("pm2_checkout", help="a PM2 checkout: a directory with test/e2e/include.sh")
    ap.add_argument("scripts", nargs="*",
                    help="scripts or directories under test/e2e (default: all), e.g. cli/reload.sh logs")
    ap.add_argument("--against", choices=("pmx", "pm2", "both"), default="pmx",
                    help="what bin/pm2 runs; both: each script on PM2, then on pmx")
    ap.add_argument("--pmx", default=str(REPO_ROOT / "target" / "release" / "pmx"),
                    help="the pmx binary (default: target/release/pmx of this repository)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per script (default 120)")
    ap.add_argument("--out", default="pm2-e2e-results",
                    help="write PREFIX.json and PREFIX.md (updated, not replaced, if they exist)")
    ap.add_argument("--scratch", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--list", action="store_true", help="print what would run, run nothing")
    ap.add_argument("--report", action="store_true",
                    help="only rewrite PREFIX.md (and print the table) from PREFIX.json")
    ap.add_argument("--include-unsafe", action="store_true",
                    help="also run the scripts that act on the machine itself")
    a = ap.parse_args()

    checkout = Path(a.pm2_checkout).resolve()
    src_test = checkout / "test"
    e2e = src_test / "e2e"
    if not (e2e / "include.sh").is_file():
        sys.exit(f"run.py: {checkout}: not a PM2 checkout (no test/e2e/include.sh); "
                 "get one with: git clone https://github.com/Unitech/pm2")
    chosen, skipped = select(e2e, a.scripts, a.include_unsafe)
    targets = ["pm2", "pmx"] if a.against == "both" else [a.against]

    if a.list:
        for s in chosen:
            print(s)
        for s, reason in sorted(skipped.items()):
            print(f"{s}  (skipped: {reason})")
        print(f"{len(chosen)} script(s) on {', '.join(targets)}, {len(skipped)} skipped")
        return 0

    out_json = Path(a.out + ".json")
    results, skipped_before = {}, {}
    if out_json.is_file():
        try:
            earlier = json.loads(out_json.read_text())
        except (OSError, ValueError) as e:
            sys.exit(f"run.py: {out_json}: cannot read earlier results: {e}")
        results = earlier.get("results", {})
        skipped_before = earlier.get("skipped", {})
    if a.report:
        print(write_outputs(results, a.out, skipped_before))
        return 0
    skipped = {**skipped_before, **skipped}
    for s in chosen:
        skipped.pop(s, None)

    pmx = Path(a.pmx).resolve()
    if "pmx" in targets and not os.access(pmx, os.X_OK):
        sys.exit(f"run.py: {pmx}: no pmx binary there (build it with cargo build --release, or pass --pmx)")
    if "pm2" in targets and shutil.which("pm2") is None:
        sys.exit("run.py: pm2 is not on PATH (npm install -g pm2@7)")

    scratch = Path(a.scratch).resolve() if a.scratch else Path(tempfile.mkdtemp(prefix="pm2-e2e."))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"scratch: {scratch}", flush=True)
    for i, script in enumerate(chosen, 1):
        for t in targets:
            limit = max(a.timeout, SLOW.get(script, 0))
            r = run_one(src_test, script, t, pmx, limit, scratch)
            results.setdefault(script, {})[t] = r
            extra = f" - {r['first_failure']}" if r["first_failure"] else ""
            print(f"[{i}/{len(chosen)}] {t:3} {script}: {r['status']} "
                  f"({r['checks_passed']} ok, {r['seconds']}s){extra}", flush=True)
            write_outputs(results, a.out, skipped)
    print(write_outputs(results, a.out, skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
