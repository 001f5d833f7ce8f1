#!/usr/bin/env python3
"""Runs one HTTP module (tests/http/MODULE.py) against PostgreSQL: the http_pg.* CTest entries.

    GATEHOUSE_TEST_PG_DIR=DIR python3 tests/pg/run_http.py test_validate   (from the repo root)

Sets GATEHOUSE_TEST_STORE=postgres, so that each harness.Server gets a fresh database of the
cluster in DIR. Exits with 77 (the entries' SKIP_RETURN_CODE) when DIR holds no cluster, i.e.
when the fixture pg_cluster_start was skipped because PostgreSQL is not installed: CTest runs the
entries of a fixture whose setup was skipped, and they must show as Skipped, not Passed.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pg_cluster  # noqa: E402


def main(argv):
    if len(argv) != 2 or not argv[1].startswith('test_'):
        print(f'usage: {argv[0]} test_MODULE', file=sys.stderr)
        return 2
    directory = os.environ.get('GATEHOUSE_TEST_PG_DIR')
    if not directory:
        print('run_http: GATEHOUSE_TEST_PG_DIR is not set (the directory of '
              'tests/pg/pg_cluster.py start DIR)', file=sys.stderr)
        return 2
    if pg_cluster.read_url(directory) is None:
        print(f'run_http: no PostgreSQL cluster in {directory}, skipped '
              f'({pg_cluster.NOT_INSTALLED}?)', file=sys.stderr)
        return pg_cluster.SKIP_EXIT_CODE
    os.environ['GATEHOUSE_TEST_STORE'] = 'postgres'
    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, '-m', 'unittest', '-v', f'tests.http.{argv[1]}'])


if __name__ == '__main__':
    sys.exit(main(sys.argv))
