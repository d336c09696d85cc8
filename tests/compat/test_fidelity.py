"""Fidelity suite: the official Python client (``dataikuapi``) against a fresh emulator, through
the DSS behaviours that make plans diverge when an emulator is kinder than DSS: what a fresh
instance holds, partitions, the routes of the served areas, permission semantics, defaults, list
shapes, error bodies, and secrets at rest. Each test builds what it needs under unique names."""

import glob
import os
import time

import dataikuapi
import pytest
import requests
from dataikuapi.dss.future import DSSFuture
from dataikuapi.utils import DataikuException

from conftest import ADMIN_KEY, READER_KEY, RESTRICTED_PROJECT

UNAUTHORIZED = "com.dataiku.dip.exceptions.UnauthorizedException"
NOT_AUTHENTICATED = "com.dataiku.dip.exceptions.NotAuthenticatedException"


def raw(emulator, method, path, key=ADMIN_KEY, **kwargs):
    return requests.request(method, emulator.url + "/public/api" + path, auth=(key, ""), **kwargs)


def _sql_connection(client, unique):
    """A SQL connection: the emulator runs its queries on SQLite."""
    name = unique("compat_sql")
    client.create_connection(name, "PostgreSQL", params={"host": "h", "db": "d", "user": "u", "password": "p"})
    return name


# ---------------------------------------------------------------- a fresh instance


def test_a_fresh_instance_holds_admin_default_groups_and_builtin_connections(client):
    admin = client.get_user("admin").get_settings().get_raw()
    assert admin["displayName"] == "Administrator"
    assert admin["groups"] == ["administrators"]
    groups = {g["name"]: g for g in client.list_groups()}
    assert {"administrators", "readers", "data_team"} <= set(groups)
    assert groups["administrators"]["admin"] is True
    assert client.get_auth_info()["groups"] == ["administrators"]
    for name in ["filesystem_managed", "filesystem_folders"]:
        definition = client.get_connection(name).get_definition()
        assert definition["type"] == "Filesystem"
        assert definition["usableBy"] == "ALL"


def test_a_managed_dataset_goes_to_the_builtin_connection(project, unique):
    name = unique("managed")
    dataset = project.new_managed_dataset(name).with_store_into("filesystem_managed").create()
    settings = dataset.get_settings().get_raw()
    assert settings["params"]["connection"] == "filesystem_managed"
    assert settings["managed"] is True


# ---------------------------------------------------------------- partitions, jobs


def test_an_unpartitioned_dataset_has_the_partition_np(project, unique):
    dataset = project.create_dataset(unique("np"), "Filesystem",
                                     params={"connection": "filesystem_managed", "path": "/np"})
    assert dataset.list_partitions() == ["NP"]
    assert dataset.get_last_metric_values().raw["metrics"] == []
    assert dataset.get_usages() == []


def test_partitions_come_from_the_data_and_clear_takes_partitions(client, project, unique):
    connection = _sql_connection(client, unique)
    table = unique("events").lower()
    client.sql_query("CREATE TABLE %s (day TEXT, n INTEGER)" % table, connection=connection)
    client.sql_query("INSERT INTO %s VALUES ('2024-01-01', 1), ('2024-01-01', 2), ('2024-01-02', 3)" % table,
                     connection=connection)
    dataset = project.create_dataset(
        unique("events_ds"), "PostgreSQL", params={"connection": connection, "mode": "table", "table": table})
    settings = dataset.get_settings()
    settings.get_raw()["partitioning"]["dimensions"] = [{"name": "day", "type": "value"}]
    settings.save()
    assert dataset.list_partitions() == ["2024-01-01", "2024-01-02"]
    dataset.clear(partitions="2024-01-01")
    assert dataset.list_partitions() == ["2024-01-02"]

    job = project.new_job("NON_RECURSIVE_FORCED_BUILD").with_output(dataset.dataset_name, partition="2024-01-02").start()
    assert job.id in [j["def"]["id"] for j in project.list_running_jobs()]
    assert job.id in [j["def"]["id"] for j in client.list_running_jobs()]
    assert "partition 2024-01-02" in job.get_log()


def test_a_partitioned_filesystem_dataset_lists_its_partition_folders(project, unique):
    path = "/" + unique("parts")
    folder = project.create_managed_folder(unique("drop"), connection_name="filesystem_folders")
    settings = folder.get_settings()
    settings.get_raw()["params"]["path"] = path
    settings.save()
    folder.put_file("2024-01-01/part.csv", "a\n")
    folder.put_file("2024-01-02/part.csv", "b\n")
    folder.put_file("2024-01-02/more.csv", "c\n")
    dataset = project.create_dataset(unique("parted"), "Filesystem",
                                     params={"connection": "filesystem_folders", "path": path})
    ds_settings = dataset.get_settings()
    ds_settings.get_raw()["partitioning"]["dimensions"] = [{"name": "day", "type": "value"}]
    ds_settings.save()
    assert dataset.list_partitions() == ["2024-01-01", "2024-01-02"]


# ---------------------------------------------------------------- the routes of the served areas


def test_copy_to_is_a_future_that_copies_the_data(client, project, unique):
    connection = _sql_connection(client, unique)
    source_table, target_table = unique("src").lower(), unique("dst").lower()
    client.sql_query("CREATE TABLE %s (id INTEGER)" % source_table, connection=connection)
    client.sql_query("INSERT INTO %s VALUES (1), (2)" % source_table, connection=connection)
    source = project.create_dataset(unique("source"), "PostgreSQL",
                                    params={"connection": connection, "mode": "table", "table": source_table})
    source.set_schema({"columns": [{"name": "id", "type": "int"}]})
    target = project.create_dataset(unique("target"), "PostgreSQL",
                                    params={"connection": connection, "mode": "table", "table": target_table})
    future = source.copy_to(target)
    future.wait_for_result()
    assert len(list(target.iter_rows())) == 2
    assert target.get_schema()["columns"] == [{"name": "id", "type": "int"}]
    # A finished future is forgotten once aborted.
    DSSFuture(client, future.job_id).abort()
    with pytest.raises(DataikuException):
        DSSFuture(client, future.job_id).get_state()


def test_project_tags_connection_info_and_own_user(client, project):
    assert project.get_tags() == {"tags": {}}
    project.set_tags({"tags": {"gold": {"color": "#ffcc00"}}})
    assert project.get_tags()["tags"]["gold"]["color"] == "#ffcc00"
    info = client.get_connection("filesystem_managed").get_info()
    assert info.get_type() == "Filesystem"
    own = client.get_own_user().get_settings()
    assert own.get_raw()["login"] == "admin"


def test_users_bulk_actions_and_summaries(client, unique):
    a, b = unique("bulk.a"), unique("bulk.b")
    created = client.create_users([{"login": a, "groups": ["readers"]}, {"login": b}])
    assert [s["status"] for s in created] == ["SUCCESS", "SUCCESS"]
    again = client.create_users([{"login": a}])
    assert again[0]["status"] == "FAILURE" and "already exists" in again[0]["error"]
    edited = client.edit_users([{"login": b, "displayName": "Bee"}])
    assert edited[0]["status"] == "SUCCESS"
    assert client.get_user(b).get_settings().get_raw()["displayName"] == "Bee"
    summaries = {u["login"]: u for u in client.list_users()}
    assert "secrets" not in summaries[a] and summaries[a]["groups"] == ["readers"]
    full = {u["login"]: u for u in client.list_users(include_settings=True)}
    assert "secrets" in full[a]
    deleted = client.delete_users([a, b])
    assert [s["status"] for s in deleted] == ["SUCCESS", "SUCCESS"]


# ---------------------------------------------------------------- permissions and defaults


def test_a_flag_left_out_of_a_grant_keeps_its_value(project):
    permissions = project.get_permissions()
    permissions["permissions"] = [{"group": "readers", "readProjectContent": True, "writeProjectContent": True}]
    project.set_permissions(permissions)
    permissions = project.get_permissions()
    permissions["permissions"] = [{"group": "readers", "writeProjectContent": False}]
    project.set_permissions(permissions)
    answered = project.get_permissions()
    assert answered["permissionsVersion"] == "V2"
    grant = answered["permissions"][0]
    assert grant["readProjectContent"] is True
    assert grant["writeProjectContent"] is False
    assert grant["runScenarios"] is False


def test_dss_fills_defaults_in_datasets_and_project_settings(project, unique):
    dataset = project.create_dataset(unique("csv"), "Filesystem",
                                     params={"connection": "filesystem_managed", "path": "/csv"},
                                     formatType="csv", formatParams={"separator": ","})
    settings = dataset.get_settings().get_raw()
    assert settings["formatParams"]["separator"] == ","
    assert settings["formatParams"]["quoteChar"] == '"'
    assert len(settings["formatParams"]) >= 20
    for field in ["metrics", "metricsChecks", "checks", "typeSystemVersion", "dkuProperties"]:
        assert field in settings, field
    assert settings["params"]["notReadyIfEmpty"] is False
    assert "filesSelectionRules" in settings["params"]
    assert "extendedProperties" in settings["creationTag"]
    raw_settings = project.get_settings().get_raw()["settings"]
    for field in ["flowBuildSettings", "limitsSettings", "datasetsCreationSettings", "k8sCluster"]:
        assert field in raw_settings, field
    assert raw_settings["codeEnvs"]["python"]["preventOverride"] is False


# ---------------------------------------------------------------- errors and secrets


def test_errors_as_dss_writes_them(emulator, client, unique):
    unknown = raw(emulator, "GET", "/projects/", key="not-a-key")
    assert unknown.status_code == 401
    assert unknown.json()["errorType"] == NOT_AUTHENTICATED
    assert "Unknown API Key" in unknown.json()["message"]
    missing = raw(emulator, "GET", "/projects/NO_SUCH_PROJECT_X/metadata")
    assert "detailedMessageHTML" in missing.json()
    if RESTRICTED_PROJECT not in client.list_project_keys():
        client.create_project(RESTRICTED_PROJECT, "Restricted", "admin")
    forbidden = raw(emulator, "GET", "/projects/%s/metadata" % RESTRICTED_PROJECT, key=READER_KEY)
    assert forbidden.status_code == 403
    assert forbidden.json()["errorType"] == UNAUTHORIZED
    taken = raw(emulator, "POST", "/admin/groups/", json={"name": "readers"})
    assert taken.status_code in (409, 500)
    assert "already exists" in taken.json()["message"]


def test_secrets_are_encrypted_at_rest(emulator, client, unique):
    name = unique("compat_secret")
    client.create_connection(name, "PostgreSQL", params={"host": "h", "password": "at-rest-secret-1"})
    time.sleep(0.1)
    path = os.path.join(emulator.data_dir, "admin", "connections", name + ".json")
    with open(path) as f:
        stored = f.read()
    assert "at-rest-secret-1" not in stored
    assert os.path.exists(os.path.join(emulator.data_dir, "secret.key"))
    assert not [p for p in glob.glob(os.path.join(emulator.data_dir, "admin", "users", "*.json"))
                if "user-secret" in open(p).read()]


# ---------------------------------------------------------------- --empty and --conflict-status 500


@pytest.fixture(scope="module")
def empty_500():
    """A second emulator, in memory, started `--empty --conflict-status 500`."""
    import re
    import subprocess
    import threading

    from conftest import _binary

    key = "compat-empty-" + os.urandom(6).hex()
    env = dict(os.environ)
    env.pop("RUST_BACKTRACE", None)
    process = subprocess.Popen(
        [_binary(), "emulator", "--listen", "127.0.0.1:0", "--admin-key", key, "--empty",
         "--conflict-status", "500"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    url = None
    deadline = time.time() + 60
    while url is None and time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            url = match.group(1)
    if url is None:
        process.kill()
        pytest.exit("the second emulator did not start", 2)
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    yield dataikuapi.DSSClient(url, key)
    process.terminate()
    process.wait(timeout=10)


def test_an_empty_emulator_holds_nothing_and_answers_conflicts_500(empty_500):
    assert empty_500.list_users() == []
    assert empty_500.list_groups() == []
    assert empty_500.list_connections() == {}
    empty_500.create_group("team")
    with pytest.raises(DataikuException) as taken:
        empty_500.create_group("team")
    assert "already exists" in str(taken.value)
    assert str(taken.value).startswith("java.lang.IllegalArgumentException")
