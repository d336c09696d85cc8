"""Compatibility suite: the official Python client (``dataikuapi``) against the dssctl emulator,
through every resource of the DSS public API reference. Each test builds what it needs under
unique names, so the tests are independent of each other and of their order."""

import io
import os
import re
import signal
import subprocess
import threading
import time
import zipfile

import dataikuapi
import pytest
import requests
from dataikuapi.dss.job import DSSJobWaiter
from dataikuapi.utils import DataikuException

from conftest import ADMIN_KEY, READER_KEY, RESTRICTED_PROJECT, _binary

NOT_FOUND = "com.dataiku.dip.server.controllers.NotFoundException"


def raw(emulator, method, path, key=ADMIN_KEY, **kwargs):
    """A plain HTTP call, for what the official client does not expose (status, headers)."""
    return requests.request(method, emulator.url + "/dip/publicapi" + path, auth=(key, ""), **kwargs)


# ---------------------------------------------------------------- instance, auth, protocol


def test_instance_info(client):
    info = client.get_instance_info()
    assert info.raw["dssVersion"]
    assert info.node_id
    assert info.node_type


def test_auth_info(client):
    auth = client.get_auth_info()
    assert auth["authIdentifier"]


def test_every_answer_carries_the_dss_headers(emulator):
    for path in ["/projects/", "/no/such/route", "/instance-info"]:
        answer = raw(emulator, "GET", path)
        assert answer.headers.get("DSS-Version"), path
        assert answer.headers.get("DSS-API-Version"), path


def test_both_prefixes_and_trailing_slashes(emulator):
    for url in ["/public/api/projects/", "/public/api/projects", "/dip/publicapi/projects"]:
        answer = requests.get(emulator.url + url, auth=(ADMIN_KEY, ""))
        assert answer.status_code == 200, url
        assert isinstance(answer.json(), list)


def test_key_as_password_and_bearer(emulator):
    as_password = requests.get(emulator.url + "/public/api/projects/", auth=("", ADMIN_KEY))
    assert as_password.status_code == 200
    bearer = requests.get(emulator.url + "/public/api/projects/", headers={"Authorization": "Bearer " + ADMIN_KEY})
    assert bearer.status_code == 200


def test_unknown_key_is_401_with_a_dss_error(emulator):
    client = dataikuapi.DSSClient(emulator.url, "not-a-key")
    with pytest.raises(DataikuException):
        client.list_projects()
    answer = raw(emulator, "GET", "/projects/", key="not-a-key")
    assert answer.status_code == 401
    assert answer.json()["errorType"]
    missing = requests.get(emulator.url + "/public/api/projects/")
    assert missing.status_code == 401


def test_restricted_key_gets_403_where_a_privilege_is_missing(client, reader_client, emulator, unique):
    if RESTRICTED_PROJECT not in client.list_project_keys():
        client.create_project(RESTRICTED_PROJECT, "Restricted", "admin")
        connection = unique("compat_restricted_fs")
        client.create_connection(connection, "Filesystem", params={"root": "/tmp/restricted"})
        client.get_project(RESTRICTED_PROJECT).create_dataset(
            "visible", "Filesystem", params={"connection": connection, "path": "/v"}
        )
    project = reader_client.get_project(RESTRICTED_PROJECT)
    # READ_CONF is granted: dataset definitions can be read.
    assert "visible" in [d["name"] for d in project.list_datasets()]
    settings = project.get_dataset("visible").get_settings()
    # WRITE_CONF is not: saving them is refused with a DSS error body.
    with pytest.raises(DataikuException):
        settings.save()
    answer = raw(
        emulator, "PUT", "/projects/%s/datasets/visible" % RESTRICTED_PROJECT, key=READER_KEY, json=settings.get_raw()
    )
    assert answer.status_code == 403
    assert answer.json()["errorType"]
    # Project metadata needs ADMIN on the project.
    with pytest.raises(DataikuException):
        project.get_metadata()
    # Instance administration needs an admin key.
    assert raw(emulator, "GET", "/admin/users/", key=READER_KEY).status_code == 403
    # Other projects are out of reach.
    other = raw(emulator, "GET", "/projects/NOT_%s/metadata" % RESTRICTED_PROJECT, key=READER_KEY)
    assert other.status_code in (403, 404)


# ---------------------------------------------------------------- projects


def test_project_crud(client, unique):
    key = unique("COMPAT_CRUD")
    client.create_project(key, "CRUD project", "admin", description="to be deleted", tags=["b", "a"])
    assert key in client.list_project_keys()
    listed = [p for p in client.list_projects() if p["projectKey"] == key]
    assert len(listed) == 1
    summary = client.get_project(key).get_summary()
    assert summary["projectKey"] == key
    # Creating the same key again is refused.
    with pytest.raises(DataikuException):
        client.create_project(key, "again", "admin")
    client.get_project(key).delete()
    assert key not in client.list_project_keys()
    with pytest.raises(DataikuException) as missing:
        client.get_project(key).get_summary()
    assert str(missing.value).startswith(NOT_FOUND)


def test_project_metadata(project):
    metadata = project.get_metadata()
    metadata["label"] = "Relabelled"
    metadata["tags"] = ["zeta", "alpha"]
    metadata.setdefault("custom", {}).setdefault("kv", {})["owner_team"] = "data"
    metadata["someFutureField"] = {"kept": True}
    project.set_metadata(metadata)
    again = project.get_metadata()
    assert again["label"] == "Relabelled"
    assert again["tags"] == ["alpha", "zeta"], "DSS returns tags sorted"
    assert again["custom"]["kv"]["owner_team"] == "data"
    assert again["someFutureField"] == {"kept": True}, "unknown fields survive a round trip"


def test_project_permissions(project, client, unique):
    group = unique("compat_perm_group")
    client.create_group(group, description="for permissions")
    permissions = project.get_permissions()
    permissions["permissions"].append(
        {"group": group, "readProjectContent": True, "writeProjectContent": False, "admin": False}
    )
    project.set_permissions(permissions)
    again = project.get_permissions()
    grants = [g for g in again["permissions"] if g.get("group") == group]
    assert len(grants) == 1
    assert grants[0]["readProjectContent"] is True
    assert grants[0]["writeProjectContent"] is False
    client.get_group(group).delete()


def test_project_variables(project):
    variables = project.get_variables()
    assert "standard" in variables and "local" in variables
    variables["standard"]["env"] = "ci"
    variables["local"]["answer"] = 42
    project.set_variables(variables)
    again = project.get_variables()
    assert again["standard"]["env"] == "ci"
    assert again["local"]["answer"] == 42
    project.update_variables({"extra": [1, 2]})
    assert project.get_variables()["standard"]["extra"] == [1, 2]


def test_project_list_tag_filter(client, unique):
    tagged = unique("COMPAT_TAGGED")
    other = unique("COMPAT_UNTAGGED")
    client.create_project(tagged, "Tagged", "admin", tags=["compat-filter"])
    client.create_project(other, "Untagged", "admin")
    metadata = client.get_project(tagged).get_metadata()
    metadata["tags"] = ["compat-filter"]
    client.get_project(tagged).set_metadata(metadata)
    for params in [{"tags": "compat-filter"}, {"tags": ["compat-filter", "nothing-has-this"]}, {"tags": "compat-filter,x"}]:
        keys = [p["projectKey"] for p in client._perform_json("GET", "/projects/", params=params)]
        assert tagged in keys, params
        assert other not in keys, params
    client.get_project(tagged).delete()
    client.get_project(other).delete()


def test_project_export_is_a_zip(project):
    with project.get_export_stream() as stream:
        data = stream.read()
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    assert names, "the export holds the project's documents"
    assert archive.testzip() is None


# ---------------------------------------------------------------- datasets


def _fs_connection(client, unique):
    name = unique("compat_fs")
    client.create_connection(name, "Filesystem", params={"root": "/tmp/compat"})
    return name


def test_dataset_crud(client, project, unique):
    connection = _fs_connection(client, unique)
    name = unique("orders")
    dataset = project.create_dataset(
        name, "Filesystem", params={"connection": connection, "path": "/orders"}, formatType="csv",
        formatParams={"separator": ","},
    )
    assert dataset.exists()
    listed = [d["name"] for d in project.list_datasets()]
    assert name in listed
    settings = dataset.get_settings()
    raw_settings = settings.get_raw()
    assert raw_settings["type"] == "Filesystem"
    assert raw_settings["params"]["connection"] == connection
    raw_settings["description"] = "orders of the day"
    raw_settings["flowOptions"] = {"virtualizable": True}
    settings.save()
    again = dataset.get_settings().get_raw()
    assert again["description"] == "orders of the day"
    assert again["flowOptions"] == {"virtualizable": True}
    assert again["versionTag"]["versionNumber"] > raw_settings.get("versionTag", {}).get("versionNumber", -1)
    dataset.delete(drop_data=True)
    assert not dataset.exists()
    with pytest.raises(DataikuException) as missing:
        dataset.get_settings()
    assert str(missing.value).startswith(NOT_FOUND)
    client.get_connection(connection).delete()


def test_dataset_schema(client, project, unique):
    connection = _fs_connection(client, unique)
    dataset = project.create_dataset(unique("schema_ds"), "Filesystem", params={"connection": connection, "path": "/s"})
    schema = {"columns": [{"name": "id", "type": "bigint"}, {"name": "label", "type": "string", "maxLength": -1}]}
    dataset.set_schema(schema)
    again = dataset.get_schema()
    assert [(c["name"], c["type"]) for c in again["columns"]] == [("id", "bigint"), ("label", "string")]
    client.get_connection(connection).delete()


def test_dataset_metadata(client, project, unique):
    connection = _fs_connection(client, unique)
    dataset = project.create_dataset(unique("meta_ds"), "Filesystem", params={"connection": connection, "path": "/m"})
    metadata = dataset.get_metadata()
    metadata["tags"] = ["pii", "gold"]
    metadata.setdefault("custom", {}).setdefault("kv", {})["steward"] = "ana"
    dataset.set_metadata(metadata)
    again = dataset.get_metadata()
    assert sorted(again["tags"]) == ["gold", "pii"]
    assert again["custom"]["kv"]["steward"] == "ana"
    client.get_connection(connection).delete()


def test_dataset_list_tag_filter(client, project, unique):
    connection = _fs_connection(client, unique)
    gold = project.create_dataset(unique("gold_ds"), "Filesystem", params={"connection": connection, "path": "/g"})
    plain = project.create_dataset(unique("plain_ds"), "Filesystem", params={"connection": connection, "path": "/p"})
    metadata = gold.get_metadata()
    metadata["tags"] = ["gold"]
    gold.set_metadata(metadata)
    names = [d["name"] for d in project.list_datasets(tags=["gold"])]
    assert gold.dataset_name in names
    assert plain.dataset_name not in names
    everything = [d["name"] for d in project.list_datasets(include_shared=True)]
    assert {gold.dataset_name, plain.dataset_name} <= set(everything)
    client.get_connection(connection).delete()


def test_dataset_data_partitions_and_clear(client, project, unique):
    connection = _fs_connection(client, unique)
    dataset = project.create_dataset(unique("data_ds"), "Filesystem", params={"connection": connection, "path": "/d"})
    dataset.set_schema({"columns": [{"name": "id", "type": "bigint"}]})
    rows = list(dataset.iter_rows())
    assert isinstance(rows, list)
    assert isinstance(dataset.list_partitions(), list)
    dataset.clear()
    client.get_connection(connection).delete()


# ---------------------------------------------------------------- connections, users, groups


def test_connections(client, unique):
    name = unique("compat_pg")
    client.create_connection(
        name, "PostgreSQL", params={"host": "db.example", "port": 5432, "user": "u", "password": "pg-secret-1"},
        usable_by="ALLOWED", allowed_groups=[], description="compat",
    )
    listed = client.list_connections()
    assert name in listed
    definition = client.get_connection(name).get_definition()
    assert definition["type"] == "PostgreSQL"
    assert definition["params"]["host"] == "db.example"
    assert definition["params"].get("password") != "pg-secret-1", "secrets are never returned in clear"
    settings = client.get_connection(name).get_settings()
    settings.get_raw()["description"] = "updated"
    settings.get_raw()["maxActivities"] = 3
    settings.save()
    again = client.get_connection(name).get_definition()
    assert again["description"] == "updated"
    assert again["maxActivities"] == 3
    client.get_connection(name).delete()
    assert name not in client.list_connections()
    with pytest.raises(DataikuException) as missing:
        client.get_connection(name).get_definition()
    assert "Connection '%s' does not exist" % name in str(missing.value)


def test_users(client, unique):
    login = unique("john.doe")
    client.create_user(login, "user-secret-1", display_name="John", groups=[], profile="DATA_SCIENTIST",
                       email="john@example.com")
    logins = [u["login"] for u in client.list_users()]
    assert login in logins
    user = client.get_user(login)
    settings = user.get_settings()
    raw_settings = settings.get_raw()
    assert raw_settings["login"] == login
    assert "user-secret-1" not in str(raw_settings), "passwords are never returned"
    raw_settings["displayName"] = "John Doe"
    settings.save()
    assert client.get_user(login).get_settings().get_raw()["displayName"] == "John Doe"
    user.delete()
    assert login not in [u["login"] for u in client.list_users()]
    with pytest.raises(DataikuException) as missing:
        client.get_user(login).get_settings()
    assert str(missing.value).startswith(NOT_FOUND)


def test_groups(client, unique):
    name = unique("compat_group")
    client.create_group(name, description="compat group", source_type="LOCAL")
    assert name in [g["name"] for g in client.list_groups()]
    group = client.get_group(name)
    definition = group.get_definition()
    definition["description"] = "changed"
    definition["mayCreateProjects"] = True
    group.set_definition(definition)
    again = group.get_definition()
    assert again["description"] == "changed"
    assert again["mayCreateProjects"] is True
    group.delete()
    with pytest.raises(DataikuException) as missing:
        client.get_group(name).get_definition()
    assert str(missing.value).startswith(NOT_FOUND)


def test_global_variables(client):
    variables = client.get_global_variables()
    variables["compat_var"] = {"nested": [1, 2, 3]}
    variables.save()
    assert client.get_global_variables()["compat_var"] == {"nested": [1, 2, 3]}
    del variables["compat_var"]
    variables.save()
    assert "compat_var" not in client.get_global_variables()


def test_admin_logs(client):
    logs = client.list_logs()
    assert logs is not None
    assert client.get_log("backend.log") is not None


# ---------------------------------------------------------------- jobs


def test_job_runs_to_done_with_a_log(client, project, unique):
    connection = _fs_connection(client, unique)
    dataset = project.create_dataset(unique("built"), "Filesystem", params={"connection": connection, "path": "/b"})
    builder = project.new_job("NON_RECURSIVE_FORCED_BUILD")
    builder.with_output(dataset.dataset_name)
    job = builder.start()
    state = job.get_status()["baseStatus"]["state"]
    assert state in ("NOT_STARTED", "WAITING", "RUNNING", "DONE")
    assert DSSJobWaiter(job).wait() == "DONE"
    assert job.get_log()
    ids = [j.job_id for j in project.list_jobs()]
    assert job.id in ids
    # The dataset helper waits too.
    dataset.build(wait=True)
    client.get_connection(connection).delete()


def test_job_abort(client, project, unique):
    connection = _fs_connection(client, unique)
    dataset = project.create_dataset(unique("aborted"), "Filesystem", params={"connection": connection, "path": "/a"})
    job = project.start_job({"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": [{"id": dataset.dataset_name}]})
    job.abort()
    assert DSSJobWaiter(job).wait(no_fail=True) == "ABORTED"
    client.get_connection(connection).delete()


def test_job_fails_on_a_missing_output(project):
    job = project.start_job({"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": [{"id": "does_not_exist"}]})
    assert DSSJobWaiter(job).wait(no_fail=True) == "FAILED"
    assert job.get_log() is not None


# ---------------------------------------------------------------- SQL


def test_sql_query_started_streamed_and_finished(client, unique):
    connection = unique("compat_sql")
    client.create_connection(connection, "PostgreSQL", params={"host": "localhost", "db": "compat"})
    client.sql_query("CREATE TABLE fruits (name TEXT, qty INTEGER)", connection=connection).verify()
    client.sql_query("INSERT INTO fruits VALUES ('apple', 3), ('pear', 5)", connection=connection).verify()
    query = client.sql_query("SELECT name, qty FROM fruits ORDER BY qty", connection=connection)
    schema = query.get_schema()
    assert [c["name"] for c in schema] == ["name", "qty"]
    rows = [list(r) for r in query.iter_rows()]
    query.verify()
    assert [r[0] for r in rows] == ["apple", "pear"]
    assert [int(r[1]) for r in rows] == [3, 5]
    client.get_connection(connection).delete()


def test_sql_dataset_rows_are_read_queried_and_cleared(client, project, unique):
    connection = unique("compat_dwh")
    client.create_connection(connection, "PostgreSQL", params={"host": "localhost", "db": "dwh"})
    client.sql_query(
        "CREATE TABLE sales (id INTEGER, city TEXT)",
        connection=connection,
        post_queries=["INSERT INTO sales VALUES (1, 'Paris'), (2, 'Lyon')"],
    ).verify()
    dataset = project.create_sql_table_dataset(unique("sales"), "PostgreSQL", connection, "sales", None)
    dataset.set_schema({"columns": [{"name": "id", "type": "bigint"}, {"name": "city", "type": "string"}]})
    rows = sorted((int(r[0]), r[1]) for r in dataset.iter_rows())
    assert rows == [(1, "Paris"), (2, "Lyon")]
    full_name = "%s.%s" % (project.project_key, dataset.dataset_name)
    query = client.sql_query("SELECT COUNT(*) AS n FROM sales", dataset_full_name=full_name)
    assert [int(r[0]) for r in query.iter_rows()] == [2]
    query.verify()
    dataset.clear()
    assert list(dataset.iter_rows()) == []
    client.get_connection(connection).delete()


def test_sql_errors_are_dss_errors(client, unique):
    connection = unique("compat_bad_sql")
    client.create_connection(connection, "PostgreSQL", params={"host": "localhost"})
    with pytest.raises(DataikuException):
        client.sql_query("SELECT * FROM no_such_table", connection=connection).verify()
    client.get_connection(connection).delete()


# ---------------------------------------------------------------- persistence


def test_state_survives_kill_9_in_the_middle_of_writes(emulator, tmp_path):
    """A second emulator on its own data dir: writes in a burst, kill -9, restart on the same
    data dir: it loads and serves every write it acknowledged."""
    data_dir = str(tmp_path / "data")

    def start():
        env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
        process = subprocess.Popen(
            [_binary(), "emulator", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--admin-key", ADMIN_KEY],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        for line in process.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
                return process, match.group(1)
        raise AssertionError("the emulator did not start")

    process, url = start()
    burst = dataikuapi.DSSClient(url, ADMIN_KEY)
    burst.create_project("KILLED", "Killed", "admin")
    acknowledged = []
    stop = threading.Event()

    def write():
        i = 0
        while not stop.is_set():
            try:
                burst.create_group("burst_%d" % i, description="x" * 2000)
                acknowledged.append("burst_%d" % i)
                variables = burst.get_project("KILLED").get_variables()
                variables["standard"]["n"] = i
                burst.get_project("KILLED").set_variables(variables)
            except Exception:
                return
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stop.set()
    writer.join()
    assert acknowledged, "some writes were acknowledged before the kill"

    process, url = start()
    try:
        again = dataikuapi.DSSClient(url, ADMIN_KEY)
        groups = {g["name"] for g in again.list_groups()}
        assert set(acknowledged) <= groups
        assert "KILLED" in again.list_project_keys()
        assert isinstance(again.get_project("KILLED").get_variables()["standard"].get("n", 0), int)
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---------------------------------------------------------------- list items


def test_list_items_expose_what_the_client_reads(client, project, unique):
    connection = _fs_connection(client, unique)
    name = unique("listed")
    dataset = project.create_dataset(name, "Filesystem", params={"connection": connection, "path": "/l"})
    dataset.set_schema({"columns": [{"name": "id", "type": "bigint"}]})
    item = [d for d in project.list_datasets() if d.name == name][0]
    assert (item.type, item.connection) == ("Filesystem", connection)
    assert item.get_column("id")["type"] == "bigint"
    assert item.to_dataset().exists()
    connections = {c.name: c for c in client.list_connections(as_type="listitems")}
    assert connections[connection].type == "Filesystem"
    assert [c.name for c in client.list_connections(as_type="objects")]
    users = client.list_users(as_objects=True)
    assert all(u.login for u in users)
    job = project.start_job({"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": [{"id": name}]})
    listed = [j for j in project.list_jobs() if j.job_id == job.id]
    assert len(listed) == 1
    assert listed[0].project_key == project.project_key
    assert listed[0].to_job().get_status()["baseStatus"]["state"]
    DSSJobWaiter(job).wait()
    client.get_connection(connection).delete()


def test_public_user_and_group_info(client, unique):
    login = unique("info.user")
    group = unique("info_group")
    client.create_group(group)
    client.create_user(login, "info-secret-1", display_name="Info", groups=[group])
    users = {u.login: u for u in client.list_users_info()}
    assert login in users
    assert "info-secret-1" not in str(users[login].get_raw())
    assert client.get_user(login).get_info().display_name == "Info"
    assert group in [g.name for g in client.list_groups_info()]
    client.get_user(login).delete()
    client.get_group(group).delete()
