"""Compatibility suite for the flow plane: the official Python client (``dataikuapi``) drives
every endpoint of managed folders, recipes, scenarios and flow zones against the dssctl
emulator, and runs a flow end to end (a SQL table, a sync recipe, a SQL query recipe that
aggregates it, a scenario that builds the aggregate)."""

import time

import pytest
from dataikuapi.utils import DataikuException

from test_compat import raw


def folders_connection(client):
    """The connection managed folders default to, created when the instance lacks it."""
    if "filesystem_folders" not in client.list_connections():
        client.create_connection("filesystem_folders", "Filesystem", params={"root": "/tmp/folders"})
    return "filesystem_folders"


def sql_connection(client, unique):
    name = unique("flow_sql")
    client.create_connection(name, "PostgreSQL", params={"host": "localhost", "db": "flow"})
    return name


def sql_table_dataset(client, project, connection, name, rows):
    """A SQL dataset on its own table, holding `rows` of (customer, amount)."""
    table = "%s_%s" % (project.project_key, name)
    values = ", ".join("('%s', %d)" % r for r in rows)
    client.sql_query(
        'CREATE TABLE "%s" (customer TEXT, amount INTEGER)' % table,
        connection=connection,
        post_queries=['INSERT INTO "%s" VALUES %s' % (table, values)],
    ).verify()
    dataset = project.create_sql_table_dataset(name, "PostgreSQL", connection, table, None)
    dataset.set_schema({"columns": [{"name": "customer", "type": "string"}, {"name": "amount", "type": "bigint"}]})
    return dataset


# ---------------------------------------------------------------- managed folders


def test_managed_folder_lifecycle_and_contents(client, project, emulator):
    folders_connection(client)
    folder = project.create_managed_folder("raw files")
    assert len(folder.id) == 8
    listed = project.list_managed_folders()
    assert [f["id"] for f in listed] == [folder.id]
    assert listed[0]["name"] == "raw files"
    assert listed[0]["type"] == "Filesystem"
    assert listed[0]["params"]["path"] == "/${projectKey}/${odbId}"

    settings = folder.get_settings()
    assert settings.type == "Filesystem"
    settings.get_raw()["description"] = "landing zone"
    settings.get_raw()["tags"] = ["b", "a"]
    settings.save()
    definition = folder.get_definition()
    assert definition["description"] == "landing zone"
    assert definition["tags"] == ["a", "b"]
    assert definition["versionTag"]["versionNumber"] == 2
    definition["description"] = "raw landing zone"
    folder.set_definition(definition)
    assert folder.get_definition()["description"] == "raw landing zone"

    uploaded = folder.put_file("/in/orders.csv", "id,amount\n1,10\n")
    assert uploaded["size"] == len("id,amount\n1,10\n")
    folder.put_file("notes.txt", b"hello")
    items = folder.list_contents()["items"]
    assert sorted(i["path"] for i in items) == ["/in/orders.csv", "/notes.txt"]
    assert all(i["lastModified"] > 0 for i in items)
    with folder.get_file("/in/orders.csv") as f:
        assert f.content == b"id,amount\n1,10\n"
    folder.delete_file("/notes.txt")
    folder.delete_file("/never/there.txt")
    assert [i["path"] for i in folder.list_contents()["items"]] == ["/in/orders.csv"]
    with pytest.raises(DataikuException):
        folder.get_file("/notes.txt")

    folder.rename("landing")
    assert folder.get_settings().get_raw()["name"] == "landing"
    assert folder.get_zone().id == "default"

    folder.delete(drop_data=True)
    assert project.list_managed_folders() == []
    answer = raw(emulator, "GET", "/projects/%s/managedfolders/%s" % (project.project_key, folder.id))
    assert answer.status_code == 404


def test_managed_folder_needs_an_existing_connection(project):
    with pytest.raises(DataikuException):
        project.create_managed_folder("nowhere", connection_name="no_such_connection")


# ---------------------------------------------------------------- recipes


def test_recipes_through_the_client_creators(client, project, unique):
    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3)])

    sync = project.new_recipe("sync", "copy_orders").with_input("orders").with_new_output("orders_copy", connection).create()
    query = (
        project.new_recipe("sql_query")
        .with_input("orders_copy")
        .with_new_output("orders_by_customer", connection)
        .create()
    )
    assert query.name == "compute_orders_by_customer"
    python = (
        project.new_recipe("python", "score")
        .with_input("orders_by_customer")
        .with_new_output_dataset("scored", connection)
        .with_script("print('never run by the emulator')")
        .create()
    )
    shell = (
        project.new_recipe("shell", "export_scores")
        .with_input("scored")
        .with_new_output_dataset("exported", connection)
        .with_script("echo done")
        .create()
    )

    listed = {r.name: r.type for r in project.list_recipes()}
    assert listed == {
        "copy_orders": "sync",
        "compute_orders_by_customer": "sql_query",
        "score": "python",
        "export_scores": "shell",
    }
    assert sync.get_settings().type == "sync"
    assert python.get_settings().get_code() == "print('never run by the emulator')"
    assert python.get_settings().get_code_env_settings()["envMode"] == "INHERIT"

    settings = query.get_settings()
    assert settings.get_flat_input_refs() == ["orders_copy"]
    assert settings.get_flat_output_refs() == ["orders_by_customer"]
    settings.set_payload("SELECT customer, SUM(amount) AS total FROM \"${projectKey}_orders_copy\" GROUP BY customer")
    settings.save()
    assert "SUM(amount)" in query.get_settings().str_payload
    assert query.get_settings().get_recipe_raw_definition()["versionTag"]["versionNumber"] == 2

    metadata = query.get_metadata()
    assert metadata["tags"] == []
    metadata["tags"] = ["reporting"]
    metadata["description"] = "orders per customer"
    query.set_metadata(metadata)
    assert query.get_metadata()["tags"] == ["reporting"]

    status = query.get_status()
    assert status.get_status_severity() is None
    assert status.get_selected_engine_details()["type"] == "SQL"
    assert sync.get_status().get_engines_details()[0]["type"] == "DSS"

    shell.rename("export_all_scores")
    assert "export_all_scores" in [r.name for r in project.list_recipes()]
    shell.delete()
    assert "export_all_scores" not in [r.name for r in project.list_recipes()]

    graph = project.get_flow().get_graph()
    sources = [d.dataset_name for d in graph.get_source_datasets()]
    assert "orders" in sources and "orders_copy" not in sources
    assert [r["ref"] for r in graph.get_successor_recipes("orders")] == ["copy_orders"]
    assert [c["ref"] for c in graph.get_successor_computables(query)] == ["orders_by_customer"]
    order = [n["ref"] for n in graph.get_items_in_traversal_order()]
    assert order.index("orders") < order.index("copy_orders") < order.index("orders_copy")

    # Refusals: an output that already has a producer, a missing input, a change of type.
    with pytest.raises(DataikuException):
        project.new_recipe("sync", "second_producer").with_input("orders").with_output("orders_copy").create()
    with pytest.raises(DataikuException):
        project.new_recipe("sync", "from_nothing").with_input("no_such").with_output("scored").create()
    raw_settings = sync.get_settings()
    raw_settings.get_recipe_raw_definition()["type"] = "python"
    with pytest.raises(DataikuException):
        raw_settings.save()


def test_a_recipe_runs_and_code_recipes_are_refused(client, project, unique):
    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3), ("bob", 4)])
    sync = project.new_recipe("sync", "copy_orders").with_input("orders").with_new_output("orders_copy", connection).create()
    job = sync.run()
    assert job.get_status()["baseStatus"]["state"] == "DONE"
    copied = sorted((r[0], int(r[1])) for r in project.get_dataset("orders_copy").iter_rows())
    assert copied == [("ann", 3), ("bob", 4)]
    assert "Wrote 2 rows" in job.get_log()

    python = (
        project.new_recipe("python", "score")
        .with_input("orders_copy")
        .with_new_output_dataset("scored", connection)
        .with_script("print(1)")
        .create()
    )
    failed = python.run(no_fail=True)
    assert failed.get_status()["baseStatus"]["state"] == "FAILED"
    assert "does not execute python recipes" in failed.get_log()


# ---------------------------------------------------------------- flow zones


def test_flow_zones(client, project, unique):
    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3)])
    sync = project.new_recipe("sync", "copy_orders").with_input("orders").with_new_output("orders_copy", connection).create()
    flow = project.get_flow()

    zones = flow.list_zones()
    assert [z.id for z in zones] == ["default"]
    default = flow.get_default_zone()
    assert {(i.__class__.__name__, getattr(i, "id", None)) for i in default.items} >= {("DSSRecipe", "copy_orders")}

    ingestion = flow.create_zone("ingestion")
    assert len(ingestion.id) == 7
    assert ingestion.color == "#2ab1ac"
    reporting = flow.create_zone("reporting", color="#ff0000")
    assert sorted(z.name for z in flow.list_zones()) == ["Default", "ingestion", "reporting"]

    settings = reporting.get_settings()
    settings.name = "Reporting"
    settings.color = "#00ff00"
    settings.save()
    again = flow.get_zone(reporting.id)
    assert (again.name, again.color) == ("Reporting", "#00ff00")

    orders = project.get_dataset("orders")
    ingestion.add_item(orders)
    assert [i.dataset_name for i in ingestion.items] == ["orders"]
    assert flow.get_zone_of_object(orders).id == ingestion.id
    sync.move_to_zone(reporting)
    assert flow.get_zone_of_object(sync).id == reporting.id
    reporting.add_items([orders, project.get_dataset("orders_copy")])
    assert flow.get_zone(ingestion.id).items == []
    assert sorted(getattr(i, "id", None) or i.name for i in flow.get_zone(reporting.id).items) == [
        "copy_orders", "orders", "orders_copy"]
    assert "orders" not in [getattr(i, "id", None) for i in flow.get_default_zone().items]

    ingestion.add_shared(orders)
    assert [i.dataset_name for i in flow.get_zone(ingestion.id).shared] == ["orders"]
    ingestion.remove_shared(orders)
    assert flow.get_zone(ingestion.id).shared == []

    zone_graph = flow.get_zone(reporting.id).get_graph()
    assert set(zone_graph.nodes) == {"orders", "orders_copy", "copy_orders"}

    # The emulator has no language model: a clear refusal, after the zone is checked.
    with pytest.raises(DataikuException, match="AI services"):
        reporting.generate_ai_description()
    with pytest.raises(DataikuException, match="does not exist"):
        flow.get_zone("nozone").generate_ai_description()

    reporting.delete()
    assert flow.get_zone_of_object(sync).id == "default"
    ingestion.delete()
    assert [z.id for z in flow.list_zones()] == ["default"]
    with pytest.raises(DataikuException):
        flow.get_default_zone().delete()


# ---------------------------------------------------------------- scenarios


def test_scenario_settings_status_and_payload(project):
    scenario = project.create_scenario("Nightly refresh", "step_based", definition={
        "params": {"steps": [{"type": "build_flowitem", "name": "build",
                               "params": {"builds": [{"type": "DATASET", "itemId": "nothing"}]}}]},
    })
    assert scenario.id == "NIGHTLYREFRESH"
    items = project.list_scenarios()
    assert [i.to_scenario().id for i in items] == ["NIGHTLYREFRESH"]
    assert items[0].running is False

    settings = scenario.get_settings()
    assert settings.active is False
    assert settings.run_as == "admin" or settings.effective_run_as
    assert settings.get_raw()["delayedTriggersBehavior"]["suppressTriggersWhileRunning"] is True
    assert settings.raw_steps[0]["id"]
    settings.add_daily_trigger(hour=3)
    settings.active = True
    settings.save()
    trigger = scenario.get_settings().raw_triggers[0]
    assert trigger["id"] and trigger["type"] == "temporal"
    assert trigger["params"]["hour"] == 3
    assert "lastUpdate" in trigger["params"]

    status = scenario.get_status()
    assert status.running is False
    assert status.get_raw()["active"] is True
    assert status.next_run is None
    light = scenario.get_definition(with_status=True)
    light["description"] = "every night"
    scenario.set_definition(light, with_status=True)
    assert scenario.get_settings().get_raw()["description"] == "every night"

    script = project.create_scenario("Custom", "custom_python")
    custom = script.get_settings()
    assert custom.code == ""
    custom.code = "print('hello')"
    custom.save()
    assert script.get_settings().code == "print('hello')"
    assert script.get_payload() == "print('hello')"
    script.set_payload("print('bye')")
    assert script.get_payload() == "print('bye')"

    script.delete()
    assert [s.id for s in project.list_scenarios(as_type="objects")] == ["NIGHTLYREFRESH"]


def test_scenario_runs_end_to_end(client, project, unique):
    """A SQL table, a sync recipe, a SQL query recipe aggregating it, a scenario building the
    aggregate; the scenario run produces the aggregated rows."""
    connection = sql_connection(client, unique)
    key = project.project_key
    sql_table_dataset(client, project, connection, "orders", [("ann", 3), ("bob", 4), ("ann", 5)])
    project.new_recipe("sync", "copy_orders").with_input("orders").with_new_output("orders_copy", connection).create()
    aggregate = (
        project.new_recipe("sql_query", "compute_orders_by_customer")
        .with_input("orders_copy")
        .with_new_output("orders_by_customer", connection)
        .create()
    )
    settings = aggregate.get_settings()
    settings.set_payload(
        'SELECT customer, SUM(amount) AS total FROM "${projectKey}_orders_copy" GROUP BY customer ORDER BY customer'
    )
    settings.save()

    scenario = project.create_scenario("Build aggregate", "step_based", definition={
        "params": {"steps": [{"type": "build_flowitem", "name": "build", "params": {
            "builds": [{"type": "DATASET", "itemId": "orders_by_customer"}], "jobType": "RECURSIVE_BUILD"}}]},
    })
    run = scenario.run_and_wait()
    assert run.outcome == "SUCCESS"
    assert not run.running
    assert run.trigger["type"] == "manual"
    assert run.get_duration() >= 0

    details = run.get_details()
    assert details.last_step.outcome == "SUCCESS"
    job_ids = details.last_step.job_ids
    assert len(job_ids) == 1
    assert "Running recipe copy_orders" in project.get_job(job_ids[0]).get_log()
    assert "Scenario run finished: SUCCESS" in run.get_log()

    # The aggregated rows, through the SQL query endpoint and the dataset data endpoint.
    query = client.sql_query(
        'SELECT customer, total FROM "%s_orders_by_customer" ORDER BY customer' % key, connection=connection
    )
    assert [(r[0], int(r[1])) for r in query.iter_rows()] == [("ann", 8), ("bob", 4)]
    query.verify()
    rows = sorted((r[0], int(r[1])) for r in project.get_dataset("orders_by_customer").iter_rows())
    assert rows == [("ann", 8), ("bob", 4)]
    schema = project.get_dataset("orders_by_customer").get_schema()
    assert [c["name"] for c in schema["columns"]] == ["customer", "total"]

    last = scenario.get_last_runs()
    assert [r.id for r in last] == [run.id]
    assert scenario.get_last_finished_run().id == run.id
    assert scenario.get_last_successful_run().id == run.id
    assert scenario.get_current_run() is None
    assert scenario.get_run(run.id).outcome == "SUCCESS"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert [r.id for r in scenario.get_runs_by_date(today, today)] == [run.id]
    fire = scenario.get_trigger_fire("manual", run.run["trigger"]["runId"])
    assert fire.is_cancelled() is False
    assert fire.get_scenario_run().id == run.id
    assert scenario.get_average_duration(limit=1) is not None


def test_scenario_failures_and_abort(client, project, unique):
    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3)])
    broken = (
        project.new_recipe("sql_query", "broken")
        .with_input("orders")
        .with_new_output("broken_out", connection)
        .create()
    )
    settings = broken.get_settings()
    settings.set_payload("SELECT no_such_column FROM no_such_table")
    settings.save()
    failing = project.create_scenario("Failing", "step_based", definition={
        "params": {"steps": [{"type": "build_flowitem", "name": "build", "params": {
            "builds": [{"type": "DATASET", "itemId": "broken_out"}]}}]},
    })
    run = failing.run_and_wait(no_fail=True)
    assert run.outcome == "FAILED"
    error = run.get_details().first_error_details
    assert "no_such_table" in error["message"]
    with pytest.raises(DataikuException):
        failing.run_and_wait()

    custom = project.create_scenario("Script", "custom_python")
    run = custom.run_and_wait(no_fail=True)
    assert run.outcome == "FAILED"
    assert "not executed" in run.get_details().first_error_details["message"]

    slow = project.create_scenario("Slow", "step_based", definition={
        "params": {"steps": [
            {"type": "build_flowitem", "name": "build %d" % i,
             "params": {"builds": [{"type": "DATASET", "itemId": "orders"}]}} for i in range(10)]},
    })
    fire = slow.run()
    current = fire.wait_for_scenario_run()
    assert current.running
    assert slow.get_status().running
    assert slow.run().get_raw()["cancelled"] is True
    slow.abort()
    current.refresh()
    assert current.outcome == "ABORTED"
    assert not slow.get_status().running


def test_folder_usages_and_copy(client, project, unique):
    connection = folders_connection(client)
    source = project.create_managed_folder("source", connection_name=connection)
    target = project.create_managed_folder("target", connection_name=connection)
    source.put_file("/a.txt", "A")
    source.put_file("/sub/b.txt", "B")
    target.put_file("/old.txt", "old")
    source.copy_to(target).wait_for_result()
    assert sorted(i["path"] for i in target.list_contents()["items"]) == ["/a.txt", "/sub/b.txt"]
    with target.get_file("/sub/b.txt") as f:
        assert f.content == b"B"

    sql = sql_connection(client, unique)
    sql_table_dataset(client, project, sql, "orders", [("ann", 3)])
    project.new_recipe("python", "from_folder").with_input(source.id).with_output("orders").with_script("pass").create()
    assert source.get_usages() == [{"type": "RECIPE_INPUT", "objectId": "from_folder", "objectProjectKey": project.project_key}]
    assert target.get_usages() == []


def test_output_schema_updates(client, project, unique):
    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3), ("bob", 4)])
    recipe = (
        project.new_recipe("sql_query", "aggregate")
        .with_input("orders")
        .with_new_output("totals", connection)
        .create()
    )
    settings = recipe.get_settings()
    settings.set_payload('SELECT customer, SUM(amount) AS total FROM "${projectKey}_orders" GROUP BY customer')
    settings.save()
    updates = recipe.compute_schema_updates()
    assert updates.any_action_required()
    updates.apply()
    columns = project.get_dataset("totals").get_schema()["columns"]
    assert [c["name"] for c in columns] == ["customer", "total"]
    assert not recipe.compute_schema_updates().any_action_required()

    python = (
        project.new_recipe("python", "score")
        .with_input("orders")
        .with_new_output_dataset("scored", connection)
        .with_script("pass")
        .create()
    )
    with pytest.raises(DataikuException):
        python.compute_schema_updates()


def test_test_scenarios_and_their_reports(client, project, unique):
    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3)])
    project.new_recipe("sync", "copy_orders").with_input("orders").with_new_output("orders_copy", connection).create()
    scenario = project.create_scenario("Checks", "step_based", definition={
        "markedAsTest": True,
        "params": {"steps": [{"type": "build_flowitem", "name": "build copy", "params": {
            "builds": [{"type": "DATASET", "itemId": "orders_copy"}]}}]},
    })
    assert [s.id for s in project.list_test_scenarios()] == [scenario.id]
    run = scenario.run_and_wait()
    status = project.get_testing_status()
    assert status.nb_total_ran_scenarios == 1
    assert status.nb_scenarios_per_outcome == {"SUCCESS": 1}
    report = project.get_last_test_scenario_runs_report().text
    assert '<testsuite name="CHECKS"' in report and 'failures="0"' in report
    assert "CHECKS" in project.get_last_test_scenario_runs_html_report().text
    assert '<testcase name="build copy"' in run.get_report().text
    step_id = run.get_details().steps[0]["step"]["id"]
    assert 'tests="1"' in run.get_step_run_report(step_id).text


def test_folder_metrics(client, project):
    folder = project.create_managed_folder("measured", connection_name=folders_connection(client))
    folder.put_file("/a.txt", "12345")
    folder.put_file("/b.txt", "678")
    computed = folder.compute_metrics()
    assert {m["metricId"]: int(m["value"]) for m in computed["result"]["computed"]} == {
        "basic:COUNT_FILES": 2, "basic:SIZE": 8}
    only = folder.compute_metrics(metric_ids=["basic:SIZE"])
    assert [m["metricId"] for m in only["result"]["computed"]] == ["basic:SIZE"]
    last = folder.get_last_metric_values()
    assert last.get_global_value("basic:COUNT_FILES") == 2
    history = folder.get_metric_history("basic:SIZE")
    assert history["metricId"] == "basic:SIZE"
    assert [int(v["value"]) for v in history["values"]] == [8]


def test_the_older_folder_and_recipe_calls(client, project, unique):
    """The calls the client keeps besides its handles and creators: a folder by its id, a
    dataset over a folder's files, a recipe created from a prototype, and the deprecated
    definition-and-payload pair."""
    folder = project.create_managed_folder("landing", connection_name=folders_connection(client))
    same = project.get_managed_folder(folder.id)
    assert same.get_settings().get_raw()["name"] == "landing"
    same.put_file("/orders.csv", "customer,amount\nann,3\n")
    files = same.create_dataset_from_files("landing_files")
    definition = files.get_settings().get_raw()
    assert definition["type"] == "FilesInFolder"
    assert definition["params"]["folderSmartId"] == folder.id

    connection = sql_connection(client, unique)
    sql_table_dataset(client, project, connection, "orders", [("ann", 3)])
    project.create_sql_table_dataset("totals", "PostgreSQL", connection, "%s_totals" % project.project_key, None)
    sql = 'SELECT customer, SUM(amount) AS total FROM "${projectKey}_orders" GROUP BY customer'
    recipe = project.create_recipe(
        {
            "name": "aggregate",
            "type": "sql_query",
            "inputs": {"main": {"items": [{"ref": "orders"}]}},
            "outputs": {"main": {"items": [{"ref": "totals"}]}},
        },
        {"payload": sql},
    )
    assert recipe.name == "aggregate"
    with pytest.warns(DeprecationWarning):
        both = recipe.get_definition_and_payload()
    assert both.get_payload() == sql
    assert both.get_flat_input_refs() == ["orders"]
    both.set_payload(sql + " ORDER BY customer")
    with pytest.warns(DeprecationWarning):
        recipe.set_definition_and_payload(both)
    assert recipe.get_settings().str_payload.endswith("ORDER BY customer")
    assert recipe.run().get_status()["baseStatus"]["state"] == "DONE"
    assert [(r[0], int(r[1])) for r in project.get_dataset("totals").iter_rows()] == [("ann", 3)]
