"""End to end through dssctl itself: ``examples/flow`` applied by the dssctl binary to the
session's emulator, its scenario run by ``dssctl build --scenario``, and the aggregated rows
read back with the official client (the SQL query endpoint and the dataset's rows); the project
and the connection the example creates are deleted afterwards (the emulator is shared)."""

import os
import subprocess
import tempfile

import pytest

from conftest import ADMIN_KEY, REPO, _binary

PROJECT = "FLOW_DEMO"
CONNECTION = "flow_warehouse"


def dssctl(emulator, *args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS")}
    env.pop("RUST_BACKTRACE", None)
    return subprocess.run(
        [_binary(), *args, "--url", emulator.url, "--api-key", ADMIN_KEY],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def flow_example(client):
    yield REPO / "examples" / "flow"
    if PROJECT in client.list_project_keys():
        client.get_project(PROJECT).delete()
    if CONNECTION in client.list_connections():
        client.get_connection(CONNECTION).delete()


def test_the_flow_example_applied_by_dssctl_builds_the_aggregate(client, emulator, flow_example):
    with tempfile.TemporaryDirectory() as cwd:
        applied = dssctl(emulator, "apply", str(flow_example), "--auto-approve", "--no-builds", cwd=cwd)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "11 created" in applied.stdout

        project = client.get_project(PROJECT)
        recipes = sorted(r["name"] for r in project.list_recipes(as_type="listitems"))
        assert recipes == ["compute_orders_by_customer", "copy_orders"]
        settings = project.get_recipe("compute_orders_by_customer").get_settings()
        assert "SUM(amount) AS total" in settings.get_payload()
        scenario = project.get_scenario("NIGHTLY")
        raw = scenario.get_settings().get_raw()
        assert raw["name"] == "Nightly refresh"
        assert [t["name"] for t in raw["triggers"]] == ["every night"]

        client.sql_query(
            'CREATE TABLE "FLOW_DEMO_orders" (customer TEXT, amount INTEGER)',
            connection=CONNECTION,
            post_queries=["INSERT INTO \"FLOW_DEMO_orders\" VALUES ('ann', 3), ('bob', 4), ('ann', 5)"],
        ).verify()
        built = dssctl(emulator, "build", PROJECT, "--scenario", "NIGHTLY", "--poll", "100ms", cwd=cwd)
        assert built.returncode == 0, built.stdout + built.stderr
        assert "SUCCESS" in built.stdout

        assert scenario.get_last_finished_run().outcome == "SUCCESS"
        query = client.sql_query(
            'SELECT customer, total FROM "FLOW_DEMO_orders_by_customer" ORDER BY customer', connection=CONNECTION
        )
        assert [(r[0], int(r[1])) for r in query.iter_rows()] == [("ann", 8), ("bob", 4)]
        query.verify()
        rows = sorted((r[0], int(r[1])) for r in project.get_dataset("orders_by_customer").iter_rows())
        assert rows == [("ann", 8), ("bob", 4)]

        # Converged: nothing left to do.
        planned = dssctl(emulator, "plan", str(flow_example), "--detailed-exitcode", cwd=cwd)
        assert planned.returncode == 0, planned.stdout + planned.stderr
