"""`dssctl plan` against a state put in place by the official Python client: the quickstart
seeded with ``dataikuapi`` is adopted without a single field change; once the stack's ledger
lists it (written here from Python, in the documented ledger format, with HMAC fingerprints of
the secrets) the plan is empty; one tag changed with ``dataikuapi`` is exactly one field of one
operation. Runs on its own emulator so that the quickstart's names meet no other test."""

import hashlib
import hmac
import json
import os
import secrets as pysecrets
import subprocess

import dataikuapi
import pytest

from conftest import REPO, _binary, cli_env, run_emulator

KEY = "plan-compat-" + pysecrets.token_hex(8)
QUICKSTART = REPO / "examples" / "quickstart"


@pytest.fixture(scope="module")
def dss():
    for emulator in run_emulator("dssctl-plan-compat-", KEY):
        yield emulator.url


def plan(url):
    out = subprocess.run(
        [_binary(), "plan", str(QUICKSTART), "--url", url, "--api-key", KEY, "--format", "json",
         "--detailed-exitcode"],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )
    assert out.returncode in (0, 2), out.stderr
    return out.returncode, json.loads(out.stdout)


def secret(name):
    with open(QUICKSTART / "secrets" / name) as f:
        return f.read().rstrip("\n")


READWRITE = {"readProjectContent": True, "writeProjectContent": True, "exportDatasetsData": True,
             "readDashboards": True, "writeDashboards": True, "runScenarios": True}
FORMAT = {"style": "excel", "separator": ",", "parseHeaderRow": True}


def seed(client):
    """The quickstart, written the way a person would with the official client."""
    for name, desc, flags in [
        ("data_scientists", "Data scientists who build the models", {"mayWriteSafeCode": True, "mayCreateProjects": True}),
        ("analysts", "Business analysts who read the results", {"mayCreateProjects": False}),
    ]:
        group = client.create_group(name, description=desc)
        definition = group.get_definition()
        definition.update(flags)
        group.set_definition(definition)
    client.create_user("alice", secret("alice-password"), display_name="Alice Martin",
                       groups=["data_scientists"], email="alice@example.com")
    settings = client.get_user("alice").get_settings()
    settings.get_raw()["codeAllowed"] = True
    settings.save()
    client.create_user("bob", "bob-initial", display_name="Bob Nguyen", groups=["analysts"],
                       email="bob@example.com", profile="READER")
    client.create_user("carol", "carol-initial", display_name="Carol Diaz",
                       groups=["analysts", "data_scientists"], email="carol@example.com")
    # filesystem_managed is built into every DSS, as the quickstart declares it: nothing to seed.
    assert client.get_connection("filesystem_managed").get_definition()["type"] == "Filesystem"
    conn = client.create_connection(
        "warehouse", type="PostgreSQL",
        params={"host": "warehouse.internal", "port": 5432, "db": "analytics", "user": "dss_reader",
                "password": secret("warehouse-password")},
        usable_by="ALLOWED", allowed_groups=["data_scientists", "analysts"])
    definition = conn.get_definition()
    definition.update(description="The analytics warehouse", allowWrite=False, allowManagedDatasets=False)
    conn.set_definition(definition)

    def project(key, label, description, short, tags, grants, standard, local=None):
        handle = client.create_project(key, label, "admin", description=description)
        metadata = handle.get_metadata()
        metadata["shortDesc"] = short
        metadata["tags"] = tags
        handle.set_metadata(metadata)
        permissions = handle.get_permissions()
        permissions["permissions"] = grants
        handle.set_permissions(permissions)
        variables = handle.get_variables()
        variables["standard"].update(standard)
        variables["local"].update(local or {})
        handle.set_variables(variables)
        return handle

    def dataset(handle, name, kind, params, columns, fmt=True, managed=False, **metadata_fields):
        if fmt:
            ds = handle.create_dataset(name, kind, params=params, formatType="csv", formatParams=FORMAT)
        else:
            ds = handle.create_dataset(name, kind, params=params)
        if managed:
            settings = ds.get_settings()
            settings.get_raw()["managed"] = True
            settings.save()
        ds.set_schema({"columns": columns})
        metadata = ds.get_metadata()
        metadata.update(metadata_fields)
        ds.set_metadata(metadata)

    churn = project("CHURN", "Churn prediction", "Predicts churn from billing and support data.\n", "churn model",
                    ["ml", "churn"],
                    [dict(group="data_scientists", **READWRITE),
                     {"group": "analysts", "readProjectContent": True, "readDashboards": True}],
                    {"threshold": 0.7, "lookback_days": 90})
    dataset(churn, "customers", "Filesystem", {"connection": "filesystem_managed", "path": "/CHURN/customers"},
            [{"name": "id", "type": "bigint"}, {"name": "email", "type": "string", "maxLength": 200},
             {"name": "signup_date", "type": "date"}],
            managed=True, label="Customers", description="One row per customer.", tags=["pii"])
    dataset(churn, "churn_scores", "Filesystem", {"connection": "filesystem_managed", "path": "/CHURN/churn_scores"},
            [{"name": "customer_id", "type": "bigint"}, {"name": "score", "type": "double"}], managed=True,
            description="The churn probability of each customer, refreshed by the build below.")
    sales = project("SALES", "Sales reporting", None, "weekly sales dashboards", ["reporting"],
                    [dict(group="analysts", **READWRITE), {"group": "data_scientists", "readDashboards": True}],
                    {"currency": "EUR"}, {"fiscal_year_start": "04-01"})
    dataset(sales, "orders", "Filesystem", {"connection": "filesystem_managed", "path": "/SALES/orders"},
            [{"name": "order_id", "type": "bigint"}, {"name": "customer_id", "type": "bigint"},
             {"name": "amount", "type": "double"}, {"name": "ordered_at", "type": "date"}], label="Orders")
    dataset(sales, "weekly_revenue", "Filesystem", {"connection": "filesystem_managed", "path": "/SALES/weekly_revenue"},
            [{"name": "week", "type": "date"}, {"name": "revenue", "type": "double"}], managed=True)
    dataset(sales, "warehouse_customers", "PostgreSQL",
            {"connection": "warehouse", "mode": "table", "table": "customers"},
            [{"name": "id", "type": "bigint"}, {"name": "country", "type": "string"}], fmt=False,
            description="The customers table of the warehouse, read in place.")
    variables = client.get_global_variables()
    variables["env"] = "quickstart"
    variables["region"] = "eu-west-1"
    variables.save()


def ledger_for(operations):
    """The stack's ledger, as apply records it (see docs/architecture.md and plan::ledger)."""
    salt = pysecrets.token_hex(32)
    resources = {}
    for op in operations:
        key = "%s:%s" % (op["kind"], op["name"])
        fingerprints = {}
        for field in op.get("secrets", []):
            value = secret(os.path.basename(field["reference"]["fromFile"]))
            message = ("%s\n%s\n%s" % (key, field["path"], value)).encode()
            fingerprints[field["path"]] = hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()
        resources[key] = {"kind": op["kind"], "name": op["name"], "appliedAt": "2026-01-01T00:00:00Z",
                          "protect": False, "dropDataOnDelete": False, "secrets": fingerprints}
    return {"formatVersion": 1, "salt": salt, "resources": resources}


def test_python_seeded_quickstart_is_adopted_then_converged_then_one_tag_is_one_change(dss):
    client = dataikuapi.DSSClient(dss, KEY)
    code, document = plan(dss)
    assert code == 2
    # Everything but the global variables and the built-in filesystem_managed connection.
    assert document["summary"]["create"] == 13

    seed(client)
    code, document = plan(dss)
    assert code == 2
    assert not document.get("errors"), document.get("errors")
    assert len(document["operations"]) == 15
    for op in document["operations"]:
        assert op["action"] == "adopt", op
        assert op["changes"] == [], op

    variables = client.get_global_variables()
    variables["dssctl.ledger.default"] = ledger_for(document["operations"])
    variables.save()
    code, document = plan(dss)
    assert code == 0, document
    assert document["operations"] == []
    assert document["summary"]["unchanged"] == 15

    ds = client.get_project("CHURN").get_dataset("customers")
    metadata = ds.get_metadata()
    metadata["tags"] = ["pii", "drift"]
    ds.set_metadata(metadata)
    code, document = plan(dss)
    assert code == 2
    assert len(document["operations"]) == 1
    op = document["operations"][0]
    assert (op["kind"], op["name"], op["action"], op["subdocuments"]) == ("dataset", "CHURN.customers", "update", ["metadata"])
    assert [(c["path"], c["before"], c["after"]) for c in op["changes"]] == [("tags", ["drift", "pii"], ["pii"])]
