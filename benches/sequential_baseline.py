#!/usr/bin/env python3
"""The baseline of `cargo bench --bench scale`: a straightforward sequential script that reads,
with the official DSS Python client (`dataikuapi`), the information `dssctl plan` compares.

One request at a time, as a script written without concurrency would:
- once: the global variables, the users, the groups, the connections and the project list;
- per project: its summary, metadata, permissions, variables and dataset list;
- per dataset: its settings, metadata and schema.

To keep the benchmark short it may read only the first N projects (`--projects N`, sorted by key)
and prints the time of the global reads and of the project reads separately, so that the caller
extrapolates linearly to every project. Prints one JSON line on stdout.
"""

import argparse
import json
import os
import sys
import time

import dataikuapi


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="DSS base URL")
    ap.add_argument("--api-key-env", default="DSS_API_KEY",
                    help="environment variable holding the API key (never a command-line value)")
    ap.add_argument("--projects", type=int, default=10,
                    help="read only the first N projects (0: all)")
    args = ap.parse_args()

    key = os.environ.get(args.api_key_env)
    if not key:
        print(f"the API key is missing: set {args.api_key_env}", file=sys.stderr)
        return 2
    client = dataikuapi.DSSClient(args.url, key)

    requests = 0
    t0 = time.perf_counter()
    client.get_global_variables()
    client.list_users()
    client.list_groups()
    client.list_connections()
    keys = sorted(client.list_project_keys())
    requests += 5
    t_globals = time.perf_counter() - t0

    chosen = keys if args.projects <= 0 else keys[: args.projects]
    datasets = 0
    t1 = time.perf_counter()
    for key in chosen:
        project = client.get_project(key)
        project.get_summary()
        project.get_metadata()
        project.get_permissions()
        project.get_variables()
        items = project.list_datasets()
        requests += 5
        for item in items:
            dataset = project.get_dataset(item["name"])
            dataset.get_settings()
            dataset.get_metadata()
            dataset.get_schema()
            requests += 3
            datasets += 1
    t_projects = time.perf_counter() - t1

    print(json.dumps({
        "projects_total": len(keys),
        "projects_read": len(chosen),
        "datasets_read": datasets,
        "requests": requests,
        "globals_seconds": t_globals,
        "projects_seconds": t_projects,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
