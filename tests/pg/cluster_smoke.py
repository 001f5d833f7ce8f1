#!/usr/bin/env python3
"""pg.cluster_smoke: the test cluster of GATEHOUSE_TEST_PG_DIR answers, and a fresh database
can CREATE EXTENSION pg_trgm (Debian: postgresql-contrib; the token search needs it).

Exits 77 (skipped) when there is no cluster (PostgreSQL not installed), 1 on a failure.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pg_cluster  # noqa: E402


def main():
    directory = os.environ.get('GATEHOUSE_TEST_PG_DIR')
    if not directory:
        print('cluster_smoke: GATEHOUSE_TEST_PG_DIR is not set', file=sys.stderr)
        return 2
    url = pg_cluster.read_url(directory)
    if url is None:
        print(f'cluster_smoke: no PostgreSQL cluster in {directory}, skipped', file=sys.stderr)
        return pg_cluster.SKIP_EXIT_CODE
    name = pg_cluster.random_database_name('gh_smoke')
    database = pg_cluster.create_database(url, name)
    try:
        version = pg_cluster.psql(database, 'SHOW server_version').strip()
        pg_cluster.psql(database, 'CREATE EXTENSION pg_trgm')
        similarity = float(pg_cluster.psql(database, "SELECT similarity('gatehouse', 'gatehose')"))
        if not 0 < similarity < 1:
            print(f'cluster_smoke: pg_trgm similarity {similarity} out of (0, 1)', file=sys.stderr)
            return 1
        settings = pg_cluster.psql(database, "SELECT current_setting('fsync') || ' ' || "
                                             "current_setting('max_connections')").strip()
        if settings != 'off 300':
            print(f'cluster_smoke: fsync, max_connections = {settings}', file=sys.stderr)
            return 1
    finally:
        pg_cluster.drop_database(url, name)
    print(f'cluster_smoke: PostgreSQL {version} at {url}: {database} created, pg_trgm '
          f'installed, dropped')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (RuntimeError, OSError) as e:
        print(f'cluster_smoke: {e}', file=sys.stderr)
        sys.exit(1)
