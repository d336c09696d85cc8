"""Compatibility suite, instance plane: the official Python client (``dataikuapi``) against the
dssctl emulator for code envs, plugins, general settings and project folders.

Every client method of these four areas is called at least once, and every answer the client
receives in this module is recorded: a route answering "No API endpoint" fails the module (see
``no_missing_endpoint``)."""

import io
import json
import os
import subprocess
import tempfile
import zipfile

import dataikuapi
import pytest
import requests
from dataikuapi.dss.admin import DSSGroupImpersonationRule, DSSUserImpersonationRule
from dataikuapi.utils import DataikuException

from conftest import ADMIN_KEY, READER_KEY

NOT_FOUND = "com.dataiku.dip.server.controllers.NotFoundException"


def raw(emulator, method, path, key=ADMIN_KEY, **kwargs):
    return requests.request(method, emulator.url + "/dip/publicapi" + path, auth=(key, ""), **kwargs)


_missing = []


@pytest.fixture(scope="module", autouse=True)
def no_missing_endpoint(client):
    """Record every answer of the client's session; at the end of the module, no request may
    have been answered "No API endpoint"."""
    session = client._session
    original = session.request

    def recording(method, url, *args, **kwargs):
        answer = original(method, url, *args, **kwargs)
        if answer.status_code == 404 and "No API endpoint" in answer.text:
            _missing.append("%s %s" % (method, url))
        return answer

    session.request = recording
    yield
    session.request = original
    assert _missing == [], "routes not served: %s" % _missing


def plugin_zip(plugin_id, version, requirements="requests==2.31.0\n", extra=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(plugin_id + "/plugin.json", json.dumps({"id": plugin_id, "version": version, "meta": {"label": plugin_id}}))
        z.writestr(plugin_id + "/custom-recipes/clean/recipe.json", "{}")
        z.writestr(plugin_id + "/python-connectors/source/connector.json", "{}")
        z.writestr(plugin_id + "/parameter-sets/creds/parameter-set.json", json.dumps({"params": [{"name": "token", "type": "STRING"}], "pluginParams": []}))
        z.writestr(plugin_id + "/code-env/python/desc.json", json.dumps({"acceptedPythonInterpreters": ["PYTHON311"]}))
        z.writestr(plugin_id + "/code-env/python/spec/requirements.txt", requirements)
        for name, content in (extra or {}).items():
            z.writestr(plugin_id + "/" + name, content)
    buf.seek(0)
    return buf


# ---------------------------------------------------------------- code envs


def test_code_env_lifecycle(client, unique):
    name = unique("py_env")
    env = client.create_code_env("PYTHON", name, "DESIGN_MANAGED", {"pythonInterpreter": "PYTHON311", "installCorePackages": True})
    listed = client.list_code_envs()
    item = [e for e in listed if e["envName"] == name][0]
    assert item["envLang"] == "PYTHON"
    assert item["deploymentMode"] == "DESIGN_MANAGED"
    assert name in [e.env_name for e in client.list_code_envs(as_objects=True)]

    definition = env.get_definition()
    assert definition["desc"]["pythonInterpreter"] == "PYTHON311"
    assert definition["desc"]["installCorePackages"] is True
    assert definition["allContainerConfs"] is True
    assert definition["usableByAll"] is False

    # The settings API: packages, container confs, permissions, then save (a PUT).
    settings = env.get_settings()
    assert settings.env_name == name and settings.env_lang == "PYTHON"
    settings.set_required_packages("pandas==2.2.2", "scikit-learn>=1.4")
    settings.set_built_container_confs("k8s-small")
    settings.get_raw()["usableByAll"] = True
    settings.get_raw()["permissions"] = [{"group": "data_team", "use": True}]
    settings.save()
    definition = env.get_definition()
    assert definition["specPackageList"] == "pandas==2.2.2\nscikit-learn>=1.4"
    assert env.get_settings().get_required_packages(as_list=True) == ["pandas==2.2.2", "scikit-learn>=1.4"]
    # DSS copies these three from the top level into desc on PUT.
    assert definition["desc"]["usableByAll"] is True
    assert definition["desc"]["allContainerConfs"] is False
    assert definition["desc"]["containerConfs"] == ["k8s-small"]
    assert definition["permissions"] == [{"group": "data_team", "use": True, "update": False, "manageUsers": False}]

    result = env.update_packages()
    assert result["messages"]["success"] is True
    assert env.get_definition()["actualPackageList"] == "pandas==2.2.2\nscikit-learn>=1.4"
    logs = env.list_logs()
    assert [l for l in logs if l["name"].startswith("update-packages-")]
    text = env.get_log(logs[-1]["name"])
    assert "No package index is reachable" in text

    # set_definition (the deprecated way) answers the saved definition.
    definition["desc"]["installJupyterSupport"] = False
    saved = env.set_definition(definition)
    assert saved["desc"]["installJupyterSupport"] is False
    env.set_jupyter_support(True)
    assert env.get_definition()["desc"]["installJupyterSupport"] is True

    images = env.update_images()
    assert images["messages"]["success"] is True
    assert env.list_usages() == []
    assert env.delete()["messages"]["success"] is True
    assert name not in [e["envName"] for e in client.list_code_envs()]


def test_r_code_env_and_futures(client, unique):
    name = unique("r_env")
    future = client.create_code_env("R", name, "DESIGN_MANAGED", {"specPackageList": "dplyr\ndata.table,1.14.8"}, wait=False)
    result = future.wait_for_result()
    assert result["envName"] == name
    env = client.get_code_env("R", name)
    definition = env.get_definition()
    assert "pythonInterpreter" not in definition["desc"]
    assert definition["actualPackageList"] == "dplyr\ndata.table,1.14.8"
    assert env.update_packages(wait=False).wait_for_result()["messages"]["success"] is True
    assert env.set_jupyter_support(False, wait=False).wait_for_result()["messages"]["success"] is True
    assert env.update_images(wait=False).wait_for_result()["messages"]["success"] is True
    env.delete(wait=False).wait_for_result()
    with pytest.raises(DataikuException) as err:
        env.get_definition()
    assert NOT_FOUND in str(err.value)


def test_invalid_requirement_fails_the_install_and_the_env_answers_500_until_rebuilt(client, emulator, unique):
    name = unique("broken_env")
    env = client.create_code_env("PYTHON", name, "DESIGN_MANAGED")
    settings = env.get_settings()
    settings.set_required_packages("pandas==2.2.2", "this is not a requirement")
    settings.save()
    with pytest.raises(Exception) as err:
        env.update_packages()
    assert "Env update failed" in str(err.value)
    assert "Invalid requirement" in str(err.value)
    answer = raw(emulator, "GET", "/admin/code-envs/PYTHON/%s" % name)
    assert answer.status_code == 500
    assert "desc.json" in answer.json()["message"]
    # The log says why; the list still shows the env, as not up to date.
    logs = env.list_logs()
    assert "Invalid requirement: 'this is not a requirement'" in env.get_log(logs[-1]["name"])
    assert [e for e in client.list_code_envs() if e["envName"] == name][0]["isUptodate"] is False
    # Fixing the list and rebuilding makes it answer again.
    fixed = raw(emulator, "PUT", "/admin/code-envs/PYTHON/%s" % name, json={"specPackageList": "pandas==2.2.2", "desc": {"owner": "admin"}})
    assert fixed.status_code == 200
    env.update_packages(force_rebuild_env=True)
    assert env.get_definition()["actualPackageList"] == "pandas==2.2.2"
    env.delete()


def test_code_env_errors_and_special_creations(client, emulator, unique, project):
    name = unique("env")
    client.create_code_env("PYTHON", name, "DESIGN_MANAGED")
    with pytest.raises(DataikuException):
        client.create_code_env("PYTHON", name, "DESIGN_MANAGED")
    assert raw(emulator, "POST", "/admin/code-envs/PYTHON/%s" % name, json={"deploymentMode": "DESIGN_MANAGED"}).status_code == 409
    assert raw(emulator, "POST", "/admin/code-envs/PYTHON/x_auto", json={"deploymentMode": "AUTOMATION_SINGLE"}).status_code == 400
    assert raw(emulator, "POST", "/admin/code-envs/PYTHON/x_nomode", json={}).status_code == 400
    assert raw(emulator, "GET", "/admin/code-envs/JULIA/x").status_code == 400
    assert raw(emulator, "GET", "/admin/code-envs/PYTHON/no_such_env").json()["errorType"] == NOT_FOUND
    assert raw(emulator, "GET", "/admin/code-envs/", key=READER_KEY).status_code == 403

    env = client.get_code_env("PYTHON", name)
    assert env.get_version_for_project(project.project_key) == {}
    # A project that selects the env explicitly is a usage.
    settings = project.get_settings()
    settings.get_raw()["settings"]["codeEnvs"]["python"] = {"mode": "EXPLICIT_ENV", "envName": name}
    settings.save()
    assert env.list_usages() == [{"envUsage": "PROJECT", "projectKey": project.project_key, "objectType": "PROJECT", "objectId": project.project_key}]
    assert [u for u in client.list_code_env_usages() if u["envName"] == name and u["projectKey"] == project.project_key]

    internal = client.create_internal_code_env("RAG_CODE_ENV", python_interpreter="PYTHON311")
    assert internal.env_name == "INTERNAL_RAG_CODE_ENV"
    assert internal.get_definition()["desc"]["pythonInterpreter"] == "PYTHON311"
    internal.delete()
    preset = client.create_code_env_from_python_preset("PYTHON311_BASIC", prefix=unique("p") + "_")
    assert preset["envName"].endswith("PYTHON311_BASIC")
    again = client.create_code_env_from_python_preset(preset["envName"], prefix="")
    assert again["messages"]["success"] is True
    client.get_code_env("PYTHON", preset["envName"]).delete()


# ---------------------------------------------------------------- plugins


def test_plugin_from_zip_settings_code_env_and_files(client, unique, tmp_path):
    plugin_id = unique("zip-plugin").replace("_", "-")
    client.install_plugin_from_archive(plugin_zip(plugin_id, "1.0.0"))
    listed = [p for p in client.list_plugins() if p["id"] == plugin_id][0]
    assert listed["version"] == "1.0.0"
    assert {"type": "custom-recipes", "id": "clean"} in listed["components"]
    with pytest.raises(DataikuException):
        client.install_plugin_from_archive(plugin_zip(plugin_id, "1.0.0"))

    plugin = client.get_plugin(plugin_id)
    settings = plugin.get_settings()
    assert settings.list_parameter_set_names() == ["creds"]
    param_set = settings.get_parameter_set("creds")
    assert [p.desc["id"] for p in settings.list_parameter_sets()] == ["creds"]
    param_set.definable_inline = True
    preset = param_set.create_preset("prod", with_defaults=True)
    preset.config["token"] = "abc"
    settings.get_raw()["config"] = {"maxRows": 1000}
    settings.save()
    again = plugin.get_settings().get_raw()
    assert again["config"] == {"maxRows": 1000}
    assert [p["name"] for p in again["presets"]] == ["prod"]

    # The plugin declares a code env: create it, name it in the settings, update it.
    creation = plugin.create_code_env(python_interpreter="PYTHON311").wait_for_result()
    env_name = creation["envName"]
    assert creation["messages"]["success"] is True
    env = client.get_code_env("PYTHON", env_name)
    assert env.get_definition()["deploymentMode"] == "PLUGIN_MANAGED"
    assert env.get_definition()["actualPackageList"] == "requests==2.31.0"
    settings = plugin.get_settings()
    settings.set_code_env(env_name)
    settings.save()
    assert plugin.update_code_env().wait_for_result()["envName"] == env_name
    assert {"envUsage": "PLUGIN", "projectKey": None, "objectType": "PLUGIN", "objectId": plugin_id} in env.list_usages()
    bad = plugin.get_settings()
    bad.set_code_env("no_such_env")
    with pytest.raises(DataikuException):
        bad.save()

    # Files: list, read, write, rename, move, download.
    tree = plugin.list_files()
    assert "plugin.json" in [c["name"] for c in tree["children"]]
    with plugin.get_file("plugin.json") as fp:
        assert json.load(fp)["id"] == plugin_id
    plugin.put_file("python-lib/helpers.py", io.BytesIO(b"X = 1\n"))
    plugin.rename_file("python-lib/helpers.py", "util.py")
    plugin.move_file("python-lib/util.py", "python-lib/pkg/util.py")
    assert plugin.get_file("python-lib/pkg/util.py").read() == b"X = 1\n"
    target = tmp_path / "plugin.zip"
    client.download_plugin_to_file(plugin_id, str(target))
    with zipfile.ZipFile(str(target)) as z:
        assert "python-lib/pkg/util.py" in z.namelist()
    assert client.download_plugin_stream(plugin_id).status_code == 200

    # Updates from a zip keep the settings.
    plugin.update_from_zip(plugin_zip(plugin_id, "1.1.0"))
    assert [p for p in client.list_plugins() if p["id"] == plugin_id][0]["version"] == "1.1.0"
    plugin.start_update_from_zip(plugin_zip(plugin_id, "1.2.0")).wait_for_result()
    assert [p for p in client.list_plugins() if p["id"] == plugin_id][0]["version"] == "1.2.0"
    assert plugin.get_settings().get_raw()["config"] == {"maxRows": 1000}
    assert plugin.list_usages().usages == []
    plugin.delete().wait_for_result()
    env.delete()
    assert plugin_id not in [p["id"] for p in client.list_plugins()]


def test_plugin_project_settings_and_usages(client, unique, project):
    plugin_id = unique("proj-plugin").replace("_", "-")
    client.start_install_plugin_from_archive(plugin_zip(plugin_id, "2.0.0")).wait_for_result()
    plugin = client.get_plugin(plugin_id)
    project_settings = plugin.get_project_settings(project.project_key)
    assert project_settings.list_parameter_set_names() == ["creds"]
    project_settings.get_parameter_set("creds").create_preset("team")
    project_settings.save()
    assert [p["name"] for p in plugin.get_project_settings(project.project_key).get_raw()["presets"]] == ["team"]
    project_settings = plugin.get_project_settings(project.project_key)
    project_settings.get_parameter_set("creds").delete_preset("team")
    project_settings.start_save().wait_for_result()
    assert plugin.get_project_settings(project.project_key).get_raw()["presets"] == []
    assert plugin.get_settings().get_raw()["presets"] == []

    # A dataset of the plugin's connector type is a usage; deleting then needs force.
    project.create_dataset(unique("ds"), "CustomPython_%s_source" % plugin_id, params={})
    usages = plugin.list_usages(project_key=project.project_key)
    assert [u.object_type for u in usages.usages] == ["DATASET"]
    assert [u.plugin_id for u in project.list_plugins_usages()] == [plugin_id]
    with pytest.raises(DataikuException):
        plugin.delete()
    plugin.delete(force=True).wait_for_result()


def test_plugin_from_store_and_git(client, unique, tmp_path):
    store_id = unique("store-plugin").replace("_", "-")
    result = client.install_plugin_from_store(store_id).wait_for_result()
    assert result["pluginId"] == store_id
    listed = [p for p in client.list_plugins() if p["id"] == store_id][0]
    assert listed["installedFrom"] == "STORE"
    assert listed["version"] == "1.0.0"
    plugin = client.get_plugin(store_id)
    assert plugin.update_from_store().wait_for_result()["pluginVersion"] == "1.0.0"
    # The containerized engine's image, built with the installed plugins (a future).
    built = client.build_cde_plugins_image().wait_for_result()
    assert store_id in built["messages"]["messages"][0]["message"]
    with pytest.raises(DataikuException):
        plugin.create_code_env()
    plugin.delete().wait_for_result()

    # A local Git repository holding a plugin under a sub-path.
    repo = tmp_path / "repo"
    git_id = unique("git-plugin").replace("_", "-")
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "plugin.json").write_text(json.dumps({"id": git_id, "version": "0.1.0", "meta": {"label": "From Git"}}))
    (repo / "sub" / "python-steps" / "notify").mkdir(parents=True)
    (repo / "sub" / "python-steps" / "notify" / "step.json").write_text("{}")
    git = ["git", "-C", str(repo), "-c", "user.name=compat", "-c", "user.email=compat@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "plugin"], check=True)
    subprocess.run(git + ["tag", "v0.1.0"], check=True)
    result = client.install_plugin_from_git(str(repo), "v0.1.0", "sub").wait_for_result()
    assert result["pluginDesc"]["version"] == "0.1.0"
    listed = [p for p in client.list_plugins() if p["id"] == git_id][0]
    assert listed["gitReference"] == {"remote": str(repo), "checkout": "v0.1.0", "path": "sub"}
    assert listed["components"] == [{"type": "python-steps", "id": "notify"}]
    (repo / "sub" / "plugin.json").write_text(json.dumps({"id": git_id, "version": "0.2.0"}))
    subprocess.run(git + ["commit", "-q", "-am", "bump"], check=True)
    plugin = client.get_plugin(git_id)
    plugin.update_from_git(str(repo), "main", "sub").wait_for_result()
    assert [p for p in client.list_plugins() if p["id"] == git_id][0]["version"] == "0.2.0"
    with pytest.raises(DataikuException):
        client.install_plugin_from_git(str(tmp_path / "no-such-repo"), "main")
    plugin.delete().wait_for_result()


# ---------------------------------------------------------------- general settings


def test_general_settings_defaults_save_and_drop_of_unknown_fields(client, emulator):
    settings = client.get_general_settings()
    current = settings.get_raw()
    for key in ["containerSettings", "limits", "ldapSettings", "ssoSettings", "impersonation"]:
        assert key in current, key
    current["maxRunningActivities"] = 8
    current["containerSettings"]["executionConfigs"] = [{"name": "k8s-small", "type": "KUBERNETES", "properties": []}]
    current["ldapSettings"]["bindPassword"] = "bind-secret"
    current["noSuchSetting"] = {"x": 1}
    settings.add_impersonation_rule(DSSUserImpersonationRule().scope_global().user_single("alice", "unix_alice"))
    settings.add_impersonation_rule(DSSGroupImpersonationRule().group_single("data_team", "unix_data"), is_user_rule=False)
    settings.save()

    after = client.get_general_settings()
    raw_after = after.get_raw()
    assert raw_after["maxRunningActivities"] == 8
    assert raw_after["containerSettings"]["executionConfigs"][0]["name"] == "k8s-small"
    assert "noSuchSetting" not in raw_after
    assert raw_after["ldapSettings"]["bindPassword"].startswith("e:AES:")
    assert len(after.get_impersonation_rules(dss_user="alice", is_user=True)) == 1
    assert len(after.get_impersonation_rules(dss_group="data_team", is_user=False)) == 1
    after.remove_impersonation_rules(dss_user="alice")
    after.remove_impersonation_rules(dss_group="data_team")
    after.save()  # sends the placeholder back: the secret is kept
    final = client.get_general_settings()
    assert final.get_impersonation_rules() == []
    pushed = final.push_container_exec_base_images()
    assert "k8s-small" in pushed["messages"]["messages"][0]["message"]
    # Still stored, and encrypted with the data dir's key like every secret at rest (that the
    # placeholder sent back keeps the stored value is the unit tests' of `secrets`).
    with open(os.path.join(emulator.data_dir, "admin", "general-settings.json")) as f:
        at_rest = f.read()
    assert "bind-secret" not in at_rest
    assert json.loads(at_rest)["ldapSettings"]["bindPassword"].startswith("e:dssctl1:")

    # An unknown top-level field is dropped silently: still a 200.
    answer = raw(emulator, "PUT", "/admin/general-settings", json=dict(final.get_raw(), anotherUnknown=True))
    assert answer.status_code == 200
    assert "anotherUnknown" not in raw(emulator, "GET", "/admin/general-settings").json()
    duplicate = dict(final.get_raw())
    duplicate["containerSettings"] = {"executionConfigs": [{"name": "a"}, {"name": "a"}]}
    assert raw(emulator, "PUT", "/admin/general-settings", json=duplicate).status_code == 400
    assert raw(emulator, "GET", "/admin/general-settings", key=READER_KEY).status_code == 403


def test_code_env_images_follow_the_execution_configs(client, unique):
    settings = client.get_general_settings()
    settings.get_raw()["containerSettings"]["executionConfigs"] = [{"name": "k8s-a"}, {"name": "k8s-b"}]
    settings.save()
    env = client.create_code_env("PYTHON", unique("img_env"), "DESIGN_MANAGED")
    result = env.update_images()
    assert "k8s-a, k8s-b" in result["messages"]["messages"][0]["message"]
    env_settings = env.get_settings()
    env_settings.set_built_container_confs("k8s-b")
    env_settings.save()
    assert env.update_images()["messages"]["messages"][0]["message"].endswith("k8s-b")
    env.delete()


# ---------------------------------------------------------------- project folders


def test_project_folder_tree(client, unique, emulator):
    root = client.get_root_project_folder()
    assert root.id == "ROOT"
    assert root.get_parent() is None
    assert root.get_path() == "/"
    analytics = root.create_sub_folder(unique("Analytics"))
    marketing = analytics.create_sub_folder("Marketing")
    assert marketing.get_path() == "/%s/Marketing" % analytics.name
    assert marketing.get_parent().id == analytics.id
    assert analytics.id in [f.id for f in client.get_root_project_folder().list_child_folders()]
    with pytest.raises(DataikuException):
        analytics.create_sub_folder("Marketing")

    # A project created in a folder, located, moved.
    key = unique("FOLDERED")
    project = marketing.create_project(key, "In a folder", "admin")
    assert client.get_project_folder(marketing.id).list_project_keys() == [key]
    assert [p.project_key for p in client.get_project_folder(marketing.id).list_projects()] == [key]
    assert project.get_project_folder().id == marketing.id
    project.move_to_folder(analytics)
    assert project.get_project_folder().id == analytics.id
    analytics = client.get_project_folder(analytics.id)
    analytics.move_project_to(key, client.get_root_project_folder())
    assert key in client.get_root_project_folder().list_project_keys()
    other_key = unique("DIRECT")
    client.create_project(other_key, "Direct", "admin", project_folder_id=marketing.id)
    assert client.get_project_folder(marketing.id).list_project_keys() == [other_key]
    assert marketing.get_default_folder_for_project_creation().id == marketing.id

    # Settings: name, owner, permissions.
    settings = marketing.get_settings()
    assert settings.get_name() == "Marketing"
    assert settings.get_owner() == "admin"
    settings.set_name("Growth")
    settings.set_owner("admin")
    settings.get_permissions().append({"group": "data_team", "read": True, "writeContents": True})
    settings.save()
    settings = client.get_project_folder(marketing.id).get_settings()
    assert settings.get_raw() == {
        "name": "Growth",
        "owner": "admin",
        "permissions": [{"group": "data_team", "read": True, "writeContents": True, "admin": False}],
    }

    # Moves: not into itself; then to the root.
    with pytest.raises(DataikuException):
        analytics.move_to(client.get_project_folder(marketing.id))
    growth = client.get_project_folder(marketing.id)
    growth.move_to(client.get_root_project_folder())
    assert client.get_project_folder(growth.id).get_parent().id == "ROOT"

    # Delete: refused while not empty.
    with pytest.raises(DataikuException):
        growth.delete()
    client.get_project(other_key).delete()
    growth.delete()
    analytics.delete()
    with pytest.raises(DataikuException) as err:
        client.get_project_folder(growth.id)
    assert NOT_FOUND in str(err.value)
    client.get_project(key).delete()
    assert raw(emulator, "DELETE", "/project-folders/ROOT").status_code == 400
    assert raw(emulator, "POST", "/projects/", params={"projectFolderId": "nope"}, json={"projectKey": unique("NOPE"), "name": "x", "owner": "admin"}).status_code == 404
