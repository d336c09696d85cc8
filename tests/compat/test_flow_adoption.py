"""A flow built with the official client (SQL datasets, a sync and a SQL query recipe, two
zones, a managed folder, a scenario) is exported by ``dssctl export`` and the export is planned
by a fresh stack: every object is adopted, by name, with no field change."""

import json
import os
import subprocess
import tempfile

from conftest import ADMIN_KEY, _binary
from test_flow import sql_connection, sql_table_dataset


def dssctl(emulator, *args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS")}
    env.pop("RUST_BACKTRACE", None)
    return subprocess.run(
        [_binary(), *args, "--url", emulator.url, "--api-key", ADMIN_KEY],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_flow_built_with_the_client_is_adopted_with_no_change(client, emulator, project, unique):
    connection = sql_connection(client, unique)
    key = project.project_key
    sql_table_dataset(client, project, connection, "orders", [("ann", 3), ("bob", 4)])
    project.new_recipe("sync", "copy_orders").with_input("orders").with_new_output("orders_copy", connection).create()
    aggregate = (
        project.new_recipe("sql_query", "compute_orders_by_customer")
        .with_input("orders_copy")
        .with_new_output("orders_by_customer", connection)
        .create()
    )
    settings = aggregate.get_settings()
    settings.set_payload('SELECT customer, SUM(amount) AS total FROM "${projectKey}_orders_copy" GROUP BY customer')
    settings.save()
    flow = project.get_flow()
    ingestion = flow.create_zone("ingestion")
    flow.create_zone("reporting", color="#ff0000")
    ingestion.add_item(project.get_dataset("orders"))
    project.create_managed_folder("raw_files")
    project.create_scenario("Nightly refresh", "step_based", definition={
        "params": {"steps": [{"type": "build_flowitem", "name": "build", "params": {
            "builds": [{"type": "DATASET", "itemId": "orders_by_customer"}], "jobType": "RECURSIVE_BUILD"}}]},
    })

    with tempfile.TemporaryDirectory() as cwd:
        exported = dssctl(
            emulator, "export", "--project", key,
            "--include", "projects,datasets,zones,folders,recipes,scenarios", "--out", "exported", cwd=cwd,
        )
        assert exported.returncode == 0, exported.stdout + exported.stderr
        text = open(os.path.join(cwd, "exported", "projects", key + ".yaml")).read()
        for expected in ["kind: Recipe", "kind: Scenario", "kind: FlowZone", "kind: ManagedFolder", "zone: ingestion"]:
            assert expected in text, text

        planned = dssctl(emulator, "plan", "exported", "--stack", "adopt-" + key, "--format", "json", cwd=cwd)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        plan = json.loads(planned.stdout)
        kinds = sorted(op["kind"] for op in plan["operations"])
        assert kinds == sorted(
            ["project", "dataset", "dataset", "dataset", "flow_zone", "flow_zone", "managed_folder",
             "recipe", "recipe", "scenario"]
        ), kinds
        for op in plan["operations"]:
            assert op["action"] == "adopt", op
            assert not op.get("changes"), op
