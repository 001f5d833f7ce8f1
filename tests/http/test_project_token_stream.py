"""API.md section 4, tokens of a project: GET /v1/organization/project/{id}/tokens is streamed
(chunked) from a store cursor. The body is the same JSON, byte for byte, as the listing built in
memory (here: as the console search renders the same tokens in the same order), and the
server's resident memory stays flat while it lists a project of ~100,000 tokens."""

import http.client
import json
import subprocess
import time

from .harness import (CLI_TIMEOUT_S, E_PROJECT_NOT_FOUND, HOST, RSS_FOLLOWS_LIVE_MEMORY,
                      GatehouseTestCase, skip_when_sanitized, unique)
from .test_export_memory import RssSampler, proc_status

BIG_PROJECT_TOKENS = 100_000
MAX_GROWTH = 30 * 1024 * 1024
TEST_BUDGET_S = 120.0
SEARCH_INDEX_LOADED = 'token search index loaded in'
# The token cache rereads what changed in its last 5 s at each sync (token_directory.cc).
SYNC_OVERLAP_S = 5.0


def get_raw(port, path, token, timeout_s=30):
    """GET path; returns (status, headers, body bytes) as the client received them."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request('GET', path, headers={'Authorization': f'Bearer {token}'})
        reply = conn.getresponse()
        return reply.status, reply.headers, reply.read()
    finally:
        conn.close()


def wire_json(value):
    """The bytes Gatehouse's JSON writer gives for value (no spaces, UTF-8 as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


class ProjectTokenStreamTests(GatehouseTestCase):

    def listing_path(self, project_id):
        return f'/v1/organization/project/{project_id}/tokens'

    def test_listing_is_chunked_and_the_same_json_as_the_search_renders(self):
        project = self.create_project(name=unique('stream-proj'))
        pid = project['projectId']
        # Names equal without case (ordered by status, then creation), beyond-ASCII case
        # (NOCASE folds ASCII only), and characters JSON escapes.
        names = ['ci', 'CI', 'Ci-1', 'café', 'CAFÉ', '日本', 'Ω', 'ω', 'quote "q"', 'back\\slash',
                 'zeta', 'Alpha', 'alpha', 'ALPHA', 'beta']
        created = {}
        for i, name in enumerate(names):
            created[name] = self.create_project_token(
                pid, name=name, status='blocked' if i % 4 == 1 else 'active',
                description=f'token {i}')
        self.ok(self.request('DELETE', f'/v2/projects/tokens/{created["zeta"]["id"]}',
                             token=self.org_token))
        # A last use still held in memory shows in both.
        self.ok(self.get('/v1/accessControl/apitoken/validate', token=created['beta']['secret']))

        status, headers, body = get_raw(self.server.port, self.listing_path(pid), self.org_token)
        self.assertEqual(status, 200, body[:500])
        self.assertEqual(headers.get('Content-Type'), 'application/json')
        self.assertEqual(headers.get('Transfer-Encoding', '').lower(), 'chunked')
        self.assertIsNone(headers.get('Content-Length'))

        search = self.ok(self.get(f'/v2/tokens?projectName={project["projectName"]}'
                                  '&scope=project&orderKey=name&pageSize=500'))
        self.assertEqual(search['count'], len(names))  # 14 live + the project's Default
        self.assertEqual(body, wire_json({'tokens': search['tokens']}))
        listed = json.loads(body)['tokens']
        self.assertNotIn(created['zeta']['id'], [t['id'] for t in listed])
        by_name = {t['name']: t for t in listed}
        self.assertIsNotNone(by_name['beta']['lastUsedAt'])
        # Equal without case: Active before Blocked, then creation order.
        self.assertEqual([t['name'] for t in listed if t['name'].lower() == 'alpha'],
                         ['Alpha', 'alpha', 'ALPHA'])

    def test_empty_project_streams_an_empty_list(self):
        pid = self.create_project()['projectId']
        default = self.ok(self.get(self.listing_path(pid)))['tokens'][0]
        self.ok(self.request('DELETE', f'/v2/projects/tokens/{default["id"]}',
                             token=self.org_token))
        status, headers, body = get_raw(self.server.port, self.listing_path(pid), self.org_token)
        self.assertEqual((status, body), (200, b'{"tokens":[]}'))
        self.assertEqual(headers.get('Transfer-Encoding', '').lower(), 'chunked')

    def test_unknown_project_is_still_a_whole_404_id_2005(self):
        path = self.listing_path('00000000-0000-4000-8000-000000000000')
        status, headers, body = get_raw(self.server.port, path, self.org_token)
        self.assertEqual(status, E_PROJECT_NOT_FOUND[0])
        self.assertEqual(json.loads(body), {'errors': [{'id': E_PROJECT_NOT_FOUND[1],
                                                        'description': E_PROJECT_NOT_FOUND[2]}]})
        self.assertEqual(headers.get('Content-Length'), str(len(body)))


@skip_when_sanitized('RSS bounds (ASan keeps freed memory in quarantine)')
class ProjectTokenStreamMemoryTests(GatehouseTestCase):
    serve_env = RSS_FOLLOWS_LIVE_MEMORY

    def test_listing_100000_tokens_grows_rss_by_less_than_30_mib(self):
        began = time.monotonic()
        self.assertEqual(self.server.stop(), 0)
        argv = [str(self.server.binary), 'bench', 'seed', '--data-dir', str(self.server.data_dir),
                '--org', 'Streamed', '--projects', '1', '--organization-tokens', '1',
                '--tokens', str(BIG_PROJECT_TOKENS + 2)]
        # On PostgreSQL the store comes from GATEHOUSE_STORE in cli_env(), as for every command.
        seeded = subprocess.run(argv, capture_output=True, timeout=CLI_TIMEOUT_S * 4,
                                env=self.server.cli_env())
        self.assertEqual(seeded.returncode, 0, seeded.stderr.decode(errors='replace'))
        seeded_at = time.monotonic()
        seed = json.loads(seeded.stdout)
        loaded_before = self.server.log_text().count(SEARCH_INDEX_LOADED)
        self.server.start()
        # The token search index loads in the background after a start (100,000 names, tens
        # of MiB): measured meanwhile, its growth would be counted as the listing's.
        deadline = time.monotonic() + 60
        while self.server.log_text().count(SEARCH_INDEX_LOADED) == loaded_before:
            self.assertLess(time.monotonic(), deadline, 'the token search index did not load')
            time.sleep(0.05)
        org_token = seed['organizationSecret']
        projects = self.ok(self.get('/v1/organization/projects', token=org_token))['projects']
        self.assertEqual(len(projects), 1)
        pid = projects[0]['projectId']
        live = self.ok(self.get(f'/v2/tokens?scope=project&pageSize=1', token=org_token))['count']
        self.assertGreater(live, BIG_PROJECT_TOKENS * 0.9)  # bench seed revokes about 5%

        pid_small = self.create_project(token=self.org_token)['projectId']
        warm = self.ok(self.get(f'/v1/organization/project/{pid_small}/tokens'))  # lazy set-up
        self.assertEqual(len(warm['tokens']), 1)
        pid_server = self.server.pid
        # The token cache's sync reads again every token changed in its last 5 s (the overlap
        # that catches commits it raced), once a second: until then each sync rereads the
        # 100,000 seeded tokens, 11-28 MiB on PostgreSQL, which would count as the listing's.
        time.sleep(max(0.3, seeded_at + SYNC_OVERLAP_S + 1.5 - time.monotonic()))
        base = proc_status(pid_server)

        sampler = RssSampler(pid_server)
        sampler.start()
        received = bytearray()
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=60)
        try:
            conn.request('GET', f'/v1/organization/project/{pid}/tokens',
                         headers={'Authorization': f'Bearer {org_token}'})
            reply = conn.getresponse()
            self.assertEqual(reply.status, 200)
            self.assertEqual(reply.headers.get('Transfer-Encoding', '').lower(), 'chunked')
            while True:
                self.assertLess(time.monotonic() - began, TEST_BUDGET_S, 'listing too slow')
                chunk = reply.read(65536)
                if not chunk:
                    break
                received += chunk
        finally:
            conn.close()
            sampler.stop()
        peak = sampler.peak or proc_status(pid_server)

        tokens = json.loads(received)['tokens']
        self.assertEqual(len(tokens), live)
        self.assertEqual(len({t['id'] for t in tokens}), live)
        self.assertTrue(all(t['projectId'] == pid for t in tokens))
        growth = peak['VmRSS'] - base['VmRSS']
        self.assertLess(growth, MAX_GROWTH,
                        f'RSS grew {growth / 2**20:.1f} MiB while streaming '
                        f'{len(received) / 2**20:.0f} MiB of tokens (base {base}, peak {peak}, '
                        f'{sampler.samples} samples)')
