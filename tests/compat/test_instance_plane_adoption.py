"""`examples/instance` put in place by the official Python client, then planned by dssctl: the
group, the code env (its packages installed), the store plugin and its settings, the general
settings (an execution config, LDAP with its bind password), the folder tree with its grants
and the project created in its folder are all adopted, by name, with no field change. Applied,
the adoption writes nothing to DSS but the stack's ledger, and the next plan is empty. Runs on
its own emulator: the general settings are one document per instance, and the other modules
of the suite change them."""

import json
import os
import secrets as pysecrets
import shutil
import subprocess
import tempfile

import dataikuapi
import pytest
import requests

from conftest import REPO, _binary, cli_env, run_emulator

KEY = "instance-compat-" + pysecrets.token_hex(8)
EXAMPLE = REPO / "examples" / "instance"


@pytest.fixture(scope="module")
def dss():
    for emulator in run_emulator("dssctl-instance-compat-", KEY):
        yield emulator.url


def dssctl(url, *args, cwd):
    return subprocess.run(
        [_binary(), *args, "--url", url, "--api-key", KEY],
        cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=300,
    )


def stats(url):
    return requests.get(url + "/__emulator/stats", auth=(KEY, "")).json()


def seed(client):
    """examples/instance, written the way a person would with the official client."""
    # The emulator, like a fresh DSS of the examples, already has the group: describe it.
    group = client.get_group("data_team")
    definition = group.get_definition()
    definition["description"] = "The data team, who work in the Analytics folder"
    definition["mayCreateProjects"] = True
    group.set_definition(definition)

    client.create_code_env("PYTHON", "py311_ml", "DESIGN_MANAGED", params={
        "pythonInterpreter": "PYTHON311", "installCorePackages": True, "installJupyterSupport": False})
    env = client.get_code_env("PYTHON", "py311_ml")
    settings = env.get_settings()
    settings.set_required_packages("pandas==2.2.2", "scikit-learn>=1.4")
    raw = settings.get_raw()
    raw["usableByAll"] = False
    raw["permissions"] = [{"group": "data_team", "use": True, "update": False, "manageUsers": False}]
    raw["desc"]["owner"] = "admin"
    settings.save()
    assert not env.update_packages()["messages"]["error"]

    client.install_plugin_from_store("googlesheets").wait_for_result()
    plugin_settings = client.get_plugin("googlesheets").get_settings()
    plugin_settings.get_raw()["config"] = {"maxRows": 1000}
    plugin_settings.save()

    general = client.get_general_settings()
    raw = general.get_raw()
    raw["maxRunningActivities"] = 8
    raw["maxRunningActivitiesPerJob"] = 4
    raw["containerSettings"]["executionConfigs"].append({
        "name": "k8s-small", "type": "KUBERNETES", "properties": [], "kubernetesNamespace": "dss-jobs",
        "cpuRequest": 0.5, "memoryRequest": "1Gi"})
    with open(EXAMPLE / "secrets" / "ldap-bind-password") as f:
        password = f.read().rstrip("\n")
    raw["ldapSettings"].update({
        "enabled": True, "url": "ldap://ldap.example.com:389/dc=example,dc=com",
        "bindDN": "cn=dss,ou=services,dc=example,dc=com", "bindPassword": password,
        "userFilter": "(&(objectClass=person)(uid={USERNAME}))", "autoImportUsers": False})
    general.save()

    root = client.get_root_project_folder()
    analytics = root.create_sub_folder("Analytics")
    marketing = analytics.create_sub_folder("Marketing")
    for folder, write in [(analytics, False), (marketing, True)]:
        folder_settings = folder.get_settings()
        folder_settings.set_owner("admin")
        folder_settings.get_raw()["permissions"] = [
            {"group": "data_team", "read": True, "writeContents": write, "admin": False}]
        folder_settings.save()

    project = client.create_project("MARKETING_REPORTS", "Marketing reports", "admin",
                                    project_folder_id=marketing.id)
    metadata = project.get_metadata()
    metadata["shortDesc"] = "campaign performance dashboards"
    project.set_metadata(metadata)
    permissions = project.get_permissions()
    permissions["permissions"] = [{"group": "data_team", "readProjectContent": True, "writeProjectContent": True,
                                   "readDashboards": True, "writeDashboards": True, "runScenarios": True,
                                   "exportDatasetsData": True}]
    project.set_permissions(permissions)


def test_the_instance_example_made_with_the_client_is_adopted_with_no_change(dss):
    seed(dataikuapi.DSSClient(dss, KEY))
    with tempfile.TemporaryDirectory() as cwd:
        stack = os.path.join(cwd, "instance")
        shutil.copytree(EXAMPLE, stack)
        # The official client installs the store's current version: it has no version
        # parameter, so the copy asks for whatever version is installed.
        plugins = os.path.join(stack, "plugins.yaml")
        with open(plugins) as f:
            text = f.read()
        assert 'store: {version: "1.2.0"}' in text
        with open(plugins, "w") as f:
            f.write(text.replace('store: {version: "1.2.0"}', "store: {}"))

        planned = dssctl(dss, "plan", stack, "--format", "json", cwd=cwd)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        plan = json.loads(planned.stdout)
        kinds = sorted((op["kind"], op["name"]) for op in plan["operations"])
        assert kinds == sorted([
            ("group", "data_team"), ("code_env", "py311_ml"), ("plugin", "googlesheets"),
            ("instance_settings", "general"), ("project_folder", "Analytics"),
            ("project_folder", "Analytics/Marketing"), ("project", "MARKETING_REPORTS"),
        ]), kinds
        for op in plan["operations"]:
            assert op["action"] == "adopt", op
            assert not op.get("changes"), op

        before = stats(dss)
        applied = dssctl(dss, "apply", stack, "--auto-approve", cwd=cwd)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        after = stats(dss)
        # The adoption records the ledger (global variables) and the project's stamp, nothing else.
        written = {route for route, n in after["by_route"].items()
                   if not route.startswith("GET ") and n > before["by_route"].get(route, 0)}
        assert written <= {"PUT /admin/variables", "PUT /projects/{projectKey}/metadata"}, written

        again = dssctl(dss, "plan", stack, "--detailed-exitcode", cwd=cwd)
        assert again.returncode == 0, again.stdout + again.stderr
