#!/usr/bin/env python3
"""The status page of `dssctl watch` in headless Chromium (standard library only).

Starts the emulator and `dssctl watch` on a small manifest directory (a group in sync, a
detect-only group that drifted), waits for /readyz, then adds a group DSS refuses (a failing
resource), waits for the page to show it, and loads http://127.0.0.1:PORT/ in Chromium twice:
`--dump-dom` (the resources and their states must be rendered) and `--screenshot`, saved as
target/test-output/status-page.png.

Environment: DSSCTL_BIN (default target/debug/dssctl), CHROMIUM (default: chromium, then
chromium-browser on PATH).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "status-page-browser-key"
SECRET = "browser-test-secret-value"
OUT_DIR = os.path.join(ROOT, "target", "test-output")


def fail(message):
    print(f"status_page: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def group(name, description, annotations=""):
    return (
        f"apiVersion: dssctl/v1\nkind: Group\nmetadata:\n  name: {name}\n{annotations}"
        f"spec:\n  description: {description}\n"
    )


def first_url(proc, what):
    """The first http:// word of the process's stdout (its bound address)."""
    line = proc.stdout.readline()
    for word in line.split():
        if word.startswith("http://"):
            return word.rstrip("/")
    fail(f"{what} printed no address: {line!r}")


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return None, ""


def wait(what, check, within=30):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    fail(f"timed out waiting for {what}")


def states(daemon):
    code, body = get(f"{daemon}/api/status")
    if code != 200:
        return {}
    return {r["name"]: r["state"] for r in json.loads(body)["resources"]}


def chromium():
    given = os.environ.get("CHROMIUM")
    for name in [given] if given else ["chromium", "chromium-browser"]:
        path = shutil.which(name)
        if path:
            return path
    fail("chromium is not installed (apt-get install chromium)")


def main():
    binary = os.environ.get("DSSCTL_BIN", os.path.join(ROOT, "target", "debug", "dssctl"))
    if not os.access(binary, os.X_OK):
        fail(f"{binary} is not built (cargo build)")
    browser = chromium()
    os.makedirs(OUT_DIR, exist_ok=True)
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run(binary, browser, tmp, procs)
        finally:
            for p in procs:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


def run(binary, browser, tmp, procs):
    emulator = subprocess.Popen(
        [binary, "emulator", "--listen", "127.0.0.1:0", "--admin-key", KEY],
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(tmp, "emulator.log"), "w"),
        text=True,
    )
    procs.append(emulator)
    dss = first_url(emulator, "the emulator")

    # A group that exists and differs from its detect-only manifest: left as it is.
    auth = base64.b64encode(f"{KEY}:".encode()).decode()
    req = urllib.request.Request(
        f"{dss}/public/api/admin/groups/",
        data=json.dumps({"name": "auditors", "description": "Set by hand"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()

    manifests = os.path.join(tmp, "manifests")
    os.makedirs(manifests)
    detect_only = "  annotations:\n    dssctl.io/sync: detect-only\n"
    docs = [
        group("analysts", "Readers"),
        group("auditors", "Audit", detect_only),
        "apiVersion: dssctl/v1\nkind: Connection\nmetadata:\n  name: warehouse\nspec:\n"
        "  type: PostgreSQL\n  params:\n    host: db\n    password: {fromEnv: WAREHOUSE_PASSWORD}\n",
    ]
    with open(os.path.join(manifests, "stack.yaml"), "w") as f:
        f.write("---\n".join(docs))

    env = dict(os.environ, WAREHOUSE_PASSWORD=SECRET, DSSCTL_LOCK_WRITE_BOUND="200ms")
    env.pop("RUST_LOG", None)
    watch = subprocess.Popen(
        [binary, "watch", manifests, "--url", dss, "--api-key", KEY,
         "--listen", "127.0.0.1:0", "--interval", "2s"],
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(tmp, "watch.log"), "w"),
        text=True,
        env=env,
        cwd=tmp,
    )
    procs.append(watch)
    daemon = first_url(watch, "dssctl watch")
    wait("/readyz", lambda: get(f"{daemon}/readyz")[0] == 200)

    # A group DSS refuses (the emulator refuses spaces in group names): a failing resource.
    with open(os.path.join(manifests, "failing.yaml"), "w") as f:
        f.write(group("data team", "Refused"))
    expected = {
        "analysts": "in_sync",
        "warehouse": "in_sync",
        "auditors": "detect_only",
        "data team": "failed",
    }
    wait("every state on /api/status", lambda: all(
        states(daemon).get(k) == v for k, v in expected.items()))

    common = [browser, "--headless", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--hide-scrollbars"]
    dom = subprocess.run(
        common + ["--dump-dom", f"{daemon}/"],
        capture_output=True, text=True, timeout=120,
    )
    if dom.returncode != 0:
        fail(f"chromium --dump-dom exited {dom.returncode}: {dom.stderr[-2000:]}")
    html = dom.stdout
    for name, state in expected.items():
        rows = [line for line in html.splitlines()
                if f'data-state="{state}"' in line and f"<code>{name}</code>" in line]
        if not rows:
            fail(f"the rendered page does not list {name} as {state}:\n{html}")
    for text in ["Last reconciles", "Last failure", "group data team"]:
        if text not in html:
            fail(f"the rendered page has no {text!r}")
    if SECRET in html or KEY in html:
        fail("the rendered page shows a secret")

    shot = os.path.join(OUT_DIR, "status-page.png")
    if os.path.exists(shot):
        os.remove(shot)
    snap = subprocess.run(
        common + [f"--screenshot={shot}", "--window-size=1280,900", f"{daemon}/"],
        capture_output=True, text=True, timeout=120,
    )
    if snap.returncode != 0 or not os.path.exists(shot) or os.path.getsize(shot) == 0:
        fail(f"no screenshot (exit {snap.returncode}): {snap.stderr[-2000:]}")
    print(f"status_page: ok: {len(expected)} resources rendered with their states; screenshot {shot}")


if __name__ == "__main__":
    main()
