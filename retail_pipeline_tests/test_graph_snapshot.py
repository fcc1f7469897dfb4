"""A snapshot of the whole Dagster graph: any change to it shows up in review as a diff.

Update after an intended change with
``.venv/bin/pytest retail_pipeline_tests/test_graph_snapshot.py --snapshot-update``.
"""

from retail_pipeline.definitions import defs


def graph_summary() -> dict:
    definitions = defs()
    repo = definitions.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "partitioned": node.is_partitioned,
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted((s.name, s.cron_schedule, s.job_name) for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_the_asset_graph_matches_its_snapshot(snapshot):
    assert graph_summary() == snapshot
