"""Fixtures of the compatibility suite: one emulator per test session, started from the dssctl
binary (``$DSSCTL_BIN``, or ``target/debug/dssctl`` of this repository) on 127.0.0.1 with a
random port, a temporary data dir, an admin key and one restricted key; and the official
``dataikuapi.DSSClient`` pointed at it."""

import json
import os
import pathlib
import re
import secrets
import subprocess
import tempfile
import threading
import time

import dataikuapi
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
ADMIN_KEY = "compat-admin-" + secrets.token_hex(8)
# A key that may only read the configuration of project COMPAT_RESTRICTED.
READER_KEY = "compat-reader-" + secrets.token_hex(8)
RESTRICTED_PROJECT = "COMPAT_RESTRICTED"


class Emulator:
    def __init__(self, url, data_dir, process):
        self.url = url
        self.data_dir = data_dir
        self.process = process


def _binary():
    path = os.environ.get("DSSCTL_BIN") or str(REPO / "target" / "debug" / "dssctl")
    if not os.path.exists(path):
        pytest.exit("dssctl binary not found at %s: run `cargo build` first or set DSSCTL_BIN" % path, 2)
    return path


def cli_env():
    """The environment of a dssctl process the tests start: none of the variables that would
    point it elsewhere or change its output."""
    env = dict(os.environ)
    for name in ["RUST_BACKTRACE", "DSS_URL", "DSS_API_KEY", "DSS_API_KEY_FILE", "DSSCTL_STACK", "NO_COLOR"]:
        env.pop(name, None)
    return env


def run_emulator(prefix, admin_key, extra=()):
    """Start `dssctl emulator` on a free port with a fresh data dir; a generator that yields an
    ``Emulator`` and stops the process when resumed (the body of the emulator fixtures)."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    data_dir = os.path.join(workdir, "data")
    process = subprocess.Popen(
        [_binary(), "emulator", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--admin-key", admin_key,
         *[arg(workdir) if callable(arg) else arg for arg in extra]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_env(),
    )
    url = None
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        process.kill()
        pytest.exit("the emulator did not start:\n" + "".join(seen), 2)
    # Keep reading its output so that a full pipe never blocks it.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    yield Emulator(url, data_dir, process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def _keys_file(workdir):
    keys_file = os.path.join(workdir, "keys.json")
    with open(keys_file, "w") as f:
        json.dump(
            [{"key": READER_KEY, "label": "reader", "projects": [RESTRICTED_PROJECT], "privileges": ["READ_CONF"]}],
            f,
        )
    return keys_file


@pytest.fixture(scope="session")
def emulator():
    yield from run_emulator("dssctl-compat-", ADMIN_KEY, ["--keys", _keys_file, "--job-duration", "600ms"])


@pytest.fixture(scope="session")
def client(emulator):
    return dataikuapi.DSSClient(emulator.url, ADMIN_KEY)


@pytest.fixture(scope="session")
def reader_client(emulator):
    return dataikuapi.DSSClient(emulator.url, READER_KEY)


_counter = [0]


@pytest.fixture
def unique():
    """A function giving names unique within the session: unique("P") -> "P_3"."""

    def make(prefix):
        _counter[0] += 1
        return "%s_%d" % (prefix, _counter[0])

    return make


@pytest.fixture
def project(client, unique):
    """A fresh project, deleted at the end of the test."""
    key = unique("COMPAT")
    handle = client.create_project(key, "Compat project " + key, "admin", description="created by the compat suite")
    yield handle
    try:
        handle.delete()
    except dataikuapi.utils.DataikuException:
        pass
