"""A flow built with the official client (SQL datasets, a sync and a SQL query recipe, a Python
recipe reading a managed folder, two zones, a scenario) is exported by ``dssctl export`` and the
export is planned by a fresh stack: every object is adopted, by name, with no field change; the
adoption writes nothing to the flow and leaves the stack converged."""

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
    raw_files = project.create_managed_folder("raw_files")
    # A code recipe reading the folder: DSS names the folder by its id, the export by its name.
    (
        project.new_recipe("python", "ingest_files")
        .with_input(raw_files.id)
        .with_new_output_dataset("raw_orders", connection)
        .with_script("import dataiku")
        .create()
    )
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
        for expected in ["kind: Recipe", "kind: Scenario", "kind: FlowZone", "kind: ManagedFolder", "zone: ingestion",
                         "folder: raw_files"]:
            assert expected in text, text

        planned = dssctl(emulator, "plan", "exported", "--stack", "adopt-" + key, "--format", "json", cwd=cwd)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        plan = json.loads(planned.stdout)
        kinds = sorted(op["kind"] for op in plan["operations"])
        assert kinds == sorted(
            ["project", "dataset", "dataset", "dataset", "dataset", "flow_zone", "flow_zone", "managed_folder",
             "recipe", "recipe", "recipe", "scenario"]
        ), kinds
        for op in plan["operations"]:
            assert op["action"] == "adopt", op
            assert not op.get("changes"), op

        # The adoption changes nothing in DSS, and the stack is converged after it.
        before = project.get_recipe("ingest_files").get_settings().get_recipe_raw_definition()
        adopted = dssctl(emulator, "apply", "exported", "--stack", "adopt-" + key, "--auto-approve", "--no-builds",
                         cwd=cwd)
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        assert "12 adopted" in adopted.stdout, adopted.stdout
        after = project.get_recipe("ingest_files").get_settings().get_recipe_raw_definition()
        assert after["inputs"] == before["inputs"] == {"main": {"items": [{"ref": raw_files.id, "deps": []}]}}
        assert after["versionTag"] == before["versionTag"]
        converged = dssctl(emulator, "plan", "exported", "--stack", "adopt-" + key, "--detailed-exitcode", cwd=cwd)
        assert converged.returncode == 0, converged.stdout + converged.stderr
