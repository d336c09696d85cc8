"""Compatibility suite: the official Python client (``dataikuapi``) against the dssctl emulator,
through every resource of the DSS public API reference. Each test builds what it needs under
unique names, so the tests are independent of each other and of their order."""

import io
import zipfile

import dataikuapi
import pytest
import requests
from dataikuapi.utils import DataikuException

from conftest import ADMIN_KEY, READER_KEY, RESTRICTED_PROJECT

NOT_FOUND = "com.dataiku.dip.server.controllers.NotFoundException"


def raw(emulator, method, path, key=ADMIN_KEY, **kwargs):
    """A plain HTTP call, for what the official client does not expose (status, headers)."""
    return requests.request(method, emulator.url + "/dip/publicapi" + path, auth=(key, ""), **kwargs)


# ---------------------------------------------------------------- instance, auth, protocol


def test_instance_info(client):
    info = client.get_instance_info()
    assert info.dss_version
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


def test_restricted_key_gets_403_where_a_privilege_is_missing(client, reader_client, emulator):
    if RESTRICTED_PROJECT not in client.list_project_keys():
        client.create_project(RESTRICTED_PROJECT, "Restricted", "admin")
    project = reader_client.get_project(RESTRICTED_PROJECT)
    # READ_CONF is granted: reads work.
    metadata = project.get_metadata()
    # WRITE_CONF is not: writes are refused with a DSS error body.
    with pytest.raises(DataikuException):
        project.set_metadata(metadata)
    answer = raw(emulator, "PUT", "/projects/%s/metadata" % RESTRICTED_PROJECT, key=READER_KEY, json=metadata)
    assert answer.status_code == 403
    assert answer.json()["errorType"]
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
    name = unique("orders") + ".v1"
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
    from dataikuapi.dss.job import DSSJobWaiter

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
    from dataikuapi.dss.job import DSSJobWaiter

    assert DSSJobWaiter(job).wait(no_fail=True) == "ABORTED"
    client.get_connection(connection).delete()


def test_job_fails_on_a_missing_output(project):
    job = project.start_job({"type": "NON_RECURSIVE_FORCED_BUILD", "outputs": [{"id": "does_not_exist"}]})
    from dataikuapi.dss.job import DSSJobWaiter

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
