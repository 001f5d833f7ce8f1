"""Losing the database for a while (issue 13): nodes keep authenticating from their caches,
management writes fail at once with 503 id 9008, /readyz answers 503, gateway calls go on and
their request records wait in memory (at most request_log_capacity of them; the rest are counted
as dropped in /metrics) until the database is back, when they are stored; nothing acknowledged
before the outage is lost.

Runs its own cluster (tests/pg/pg_cluster.py), since it stops it: pg.test_outage.
"""

import os
import sys
import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ['GATEHOUSE_TEST_STORE'] = 'postgres'

from tests.http import harness  # noqa: E402
from tests.http.fake_upstream import echo_text  # noqa: E402
from tests.http.harness import E_BAD_TOKEN, PROVIDER, unique  # noqa: E402
from tests.http.test_crash_consistency import metric  # noqa: E402
from tests.pg import pg_cluster  # noqa: E402

E_STORE_UNAVAILABLE = (503, 9008, 'Store Unavailable')
# From the database's return to /readyz 200 and every waiting record stored: the pool retries a
# connect every 500 ms and the request log a failed batch every second.
RECOVERY_S = 10.0
ECHO = f'{PROVIDER}/echo'
STREAM = f'{PROVIDER}/stream'

cluster = None
cluster_root = None


def installed():
    try:
        return pg_cluster.find_bindir() is not None
    except pg_cluster.PgNotInstalled:
        return False


def setUpModule():
    global cluster, cluster_root
    if not installed():
        raise unittest.SkipTest(pg_cluster.NOT_INSTALLED)
    cluster_root = Path(tempfile.mkdtemp(prefix='gatehouse-outage-'))
    cluster = pg_cluster.PgCluster(cluster_root / 'cluster')
    try:
        cluster.start()
    except BaseException:
        tearDownModule()  # unittest does not call it when setUpModule fails
        raise
    os.environ['GATEHOUSE_TEST_PG_DIR'] = str(cluster.directory)


def tearDownModule():
    if cluster is not None:
        cluster.remove()
        cluster_root.rmdir()


class OutageTestCase(harness.GatewayTestCase):
    """A server on the module's cluster, with the fake upstream as provider `fake`."""

    def wait_for(self, probe, what, timeout_s=RECOVERY_S):
        if not harness.wait_until(probe, timeout_s, 0.05):
            self.fail(f'{what} within {timeout_s} s')

    def stop_database(self):
        # A clean shutdown: the test cluster runs with synchronous_commit=off, so a crash
        # (mode immediate) could take back commits acknowledged before it.
        cluster.stop_server(mode='fast')

    def start_database(self):
        cluster.start_again()
        self.wait_for(lambda: self.request('GET', '/readyz').status == 200,
                      '/readyz answered 200 again')

    def metrics(self):
        response = self.request('GET', '/metrics')
        self.assertEqual(response.status, 200)
        return response.body if isinstance(response.body, str) else str(response.body)

    def log_figures(self):
        """The request log's figures in /metrics, without the gatehouse_request_log_ prefix."""
        text = self.metrics()
        return {name: metric(text, f'gatehouse_request_log_{name}')
                for name in ('queue_depth', 'written_total', 'dropped_total', 'store_failing')}

    def echo_call(self, token, session, text=None):
        """One chat call that must succeed (200, the upstream's echo); returns its session."""
        text = text or unique('hello')
        response = self.call_chat(token, ECHO, text=text, session=session)
        self.assertEqual(response.status, 200, f'chat call: {response.body!r}')
        self.assertEqual(response.body['choices'][0]['message']['content'], echo_text(text))
        return session

    def recorded_sessions(self, project_id, server=None):
        """sessionId -> number of records in the export of the project."""
        response = (server or self.server).request(
            'GET', f'/v1/organization/request/export?projectId={project_id}',
            token=self.org_token)
        self.assertEqual(response.status, 200, f'export: {response.body!r}')
        counts = {}
        for item in response.body['items']:
            counts[item['sessionId']] = counts.get(item['sessionId'], 0) + 1
        return counts

    def wait_recorded(self, project_id, sessions, timeout_s=RECOVERY_S):
        """Waits until every session has a record; returns the export's counts."""
        counts = {}

        def probe():
            nonlocal counts
            counts = self.recorded_sessions(project_id)
            return all(s in counts for s in sessions)

        if not harness.wait_until(probe, timeout_s, 0.1):
            missing = [s for s in sessions if s not in counts]
            self.fail(f'{len(missing)} of {len(sessions)} answered calls have no record '
                      f'{timeout_s} s after the database came back')
        return counts


class DatabaseOutageTests(OutageTestCase):

    def test_while_the_database_is_down_tokens_authenticate_and_writes_are_503_id_9008(self):
        working = self.create_org_token()
        blocked = self.create_org_token()
        self.ok(self.request('PUT', f'/v2/organization/tokens/{blocked["id"]}',
                             body={'status': 'blocked'}, token=self.org_token))
        self.assertTokenRejected(blocked['secret'])

        self.stop_database()
        try:
            # The cache answers: nothing usable becomes unusable, nothing blocked usable.
            self.assertTokenWorks(working['secret'])
            self.assertTokenWorks(self.org_token)
            self.assertTokenRejected(blocked['secret'])
            # Writes fail, and fail fast, with their own error id.
            for _ in range(3):
                started = time.monotonic()
                response = self.request('POST', '/v1/organization/project',
                                        body={'name': unique('down')}, token=self.org_token)
                self.assertError(response, E_STORE_UNAVAILABLE)
                self.assertLess(time.monotonic() - started, 1.0)
            self.assertNotIn('postgres', str(response.body).lower())
            self.assertEqual(self.request('GET', '/readyz').status, 503)
            self.assertEqual(self.request('GET', '/healthz').status, 200)
            self.assertTokenWorks(working['secret'])
        finally:
            self.start_database()

        project = self.create_project()
        token = self.create_project_token(project['projectId'])
        self.wait_for(lambda: self.token_works(token['secret']),
                      'a token created after the outage worked')
        self.assertTokenRejected(blocked['secret'])

    def test_chat_calls_under_load_across_an_outage_all_succeed_and_all_are_recorded(self):
        project = self.make_project()
        kept = self.make_token(project.project_id)
        blocked = self.make_token(project.project_id)
        self.ok(self.request('PUT', f'/v2/projects/tokens/{blocked.token_id}',
                             body={'status': 'blocked'}, token=self.org_token))
        self.assertTokenRejected(blocked.token)
        before = self.log_figures()

        # Load: sequential calls on a few threads from before the database stops until after
        # it is back; every one must be answered 200, each leaves one record.
        answered = []  # (session, monotonic start, monotonic end)
        failures = []
        running = threading.Event()
        running.set()
        lock = threading.Lock()

        def load(token):
            while running.is_set():
                session = str(uuid.uuid4())
                started = time.monotonic()
                try:
                    response = self.call_chat(token, ECHO, session=session)
                except Exception as error:  # noqa: BLE001 - reported by the test thread
                    failures.append(f'{type(error).__name__}: {error}')
                    return
                if response.status != 200:
                    failures.append(f'{response.status} {response.body!r}')
                    return
                with lock:
                    answered.append((session, started, time.monotonic()))

        workers = [threading.Thread(target=load, args=(token,), daemon=True)
                   for token in (project.token, kept.token, project.token)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(0.5)
            self.stop_database()
            down_at = time.monotonic()
            try:
                # A streamed call records its usage like a whole one.
                stream_session = str(uuid.uuid4())
                stream = self.stream_chat(kept.token, STREAM, session=stream_session)
                self.assertEqual(stream.status, 200)
                events = stream.read_all()
                stream.close()
                self.assertIsNone(stream.error)
                self.assertEqual(events[-1][1], '[DONE]')
                self.assertEqual(self.request('GET', '/readyz').status, 503)
                self.assertTokenWorks(kept.token)
                self.assertTokenRejected(blocked.token)
                time.sleep(1.0)
                during_outage = self.log_figures()
            finally:
                up_at = time.monotonic()
                self.start_database()
            time.sleep(0.3)
        finally:
            running.clear()
            for worker in workers:
                worker.join(timeout=harness.HTTP_TIMEOUT_S + 1)
        self.assertEqual(failures, [], 'a chat call failed around the outage')

        with lock:
            sessions = [session for session, _start, _end in answered] + [stream_session]
            outage_calls = sum(1 for _s, start, end in answered if start > down_at and end < up_at)
        self.assertGreaterEqual(outage_calls, 10, 'too few calls ran while the database was down')
        self.assertEqual(during_outage['store_failing'], 1)
        self.assertEqual(during_outage['dropped_total'], before['dropped_total'])

        self.wait_recorded(project.project_id, sessions)
        time.sleep(0.5)  # a record stored twice would show up by now
        counts = self.recorded_sessions(project.project_id)
        self.assertEqual([s for s in sessions if counts.get(s) != 1], [],
                         'a call has no record or more than one')
        self.assertEqual(sum(counts.values()), len(sessions))
        after = self.log_figures()
        self.assertEqual(after['dropped_total'], before['dropped_total'])
        # Not equal: a batch whose commit went through unanswered as the database stopped is
        # sent again, and counted again, though stored once (the export above).
        self.assertGreaterEqual(after['written_total'] - before['written_total'], len(sessions))
        self.assertEqual((after['queue_depth'], after['store_failing']), (0, 0))

        # A node started now knows only what the database holds: what was acknowledged before
        # the outage (a token created, a token blocked) and every record is there.
        node = harness.Server(node_of=self.server)
        try:
            node.start()
            self.assertEqual(
                node.request('GET', '/v1/accessControl/apitoken/validate',
                             token=kept.token).status, 200)
            self.assertError(node.request('GET', '/v1/accessControl/apitoken/validate',
                                          token=blocked.token), E_BAD_TOKEN)
            listed = self.ok(node.request('GET', f'/v1/organization/project/'
                                                 f'{project.project_id}/tokens',
                                          token=self.org_token))
            status = {t['id']: t['status'] for t in listed['tokens']}
            self.assertEqual((status.get(kept.token_id), status.get(blocked.token_id)),
                             ('Active', 'Blocked'))
            self.assertEqual(self.recorded_sessions(project.project_id, node), counts)
        finally:
            node.cleanup()

    def test_a_node_stopped_during_an_outage_stores_its_waiting_records_at_its_next_start(self):
        project = self.make_project()
        self.stop_database()
        try:
            sessions = [self.echo_call(project.token, str(uuid.uuid4())) for _ in range(20)]
            started = time.monotonic()
            self.assertEqual(self.server.stop(), 0)
            self.assertLess(time.monotonic() - started, 5.0)
        finally:
            cluster.start_again()
            if self.server.process is None:
                self.server.start()
        # The records waited in the request journal of the data directory.
        self.wait_recorded(project.project_id, sessions)
        time.sleep(0.5)
        counts = self.recorded_sessions(project.project_id)
        self.assertEqual([s for s in sessions if counts.get(s) != 1], [])
        self.assertEqual(sum(counts.values()), len(sessions))


class RecordBufferBoundTests(OutageTestCase):
    """request_log_capacity bounds the records waiting for the database."""

    CAPACITY = 5
    EXTRA = 7            # calls beyond the capacity while the database is down
    LARGE_CALLS = 120    # then calls with LARGE_TEXT bytes of input (and as much output)
    LARGE_TEXT = 64 * 1024
    # Kept records would hold LARGE_CALLS x (input + output) = 15 MiB at least.
    MAX_GROWTH = 6 * 1024 * 1024

    @classmethod
    def server_config(cls):
        return (f'[server]\nrequest_log_capacity = {cls.CAPACITY}\n\n' +
                super().server_config())

    def test_records_beyond_the_capacity_are_dropped_and_counted_and_the_rest_stored(self):
        project = self.make_project()
        start = self.log_figures()
        earlier = [self.echo_call(project.token, str(uuid.uuid4())) for _ in range(3)]
        # Stored and counted: nothing of them counts against the capacity any more.
        self.wait_for(lambda: self.log_figures()['written_total'] >= start['written_total'] + 3,
                      'the records before the outage were stored')
        before = self.log_figures()

        self.stop_database()
        try:
            sessions = [self.echo_call(project.token, str(uuid.uuid4()))
                        for _ in range(self.CAPACITY + self.EXTRA)]
            self.assertEqual(self.request('GET', '/readyz').status, 503)
            self.wait_for(lambda: self.log_figures()['store_failing'] == 1,
                          'the request log reported its failing batch')
            figures = self.log_figures()
            self.assertEqual(figures['dropped_total'] - before['dropped_total'], self.EXTRA)
            self.assertLessEqual(figures['queue_depth'], self.CAPACITY)

            # Memory stays bounded however many calls are answered meanwhile.
            rss_before = self.server.rss_bytes()
            large = 'x' * self.LARGE_TEXT
            for _ in range(self.LARGE_CALLS):
                self.echo_call(project.token, str(uuid.uuid4()), text=large)
            growth = self.server.rss_bytes() - rss_before
            figures = self.log_figures()
            self.assertEqual(figures['dropped_total'] - before['dropped_total'],
                             self.EXTRA + self.LARGE_CALLS)
            self.assertLessEqual(figures['queue_depth'], self.CAPACITY)
            self.assertLess(growth, self.MAX_GROWTH,
                            f'the server grew by {growth} bytes during the outage')
        finally:
            self.start_database()

        # The first CAPACITY calls of the outage were kept, in order; no later one.
        kept, dropped = sessions[:self.CAPACITY], sessions[self.CAPACITY:]
        self.wait_recorded(project.project_id, kept)
        time.sleep(0.5)
        counts = self.recorded_sessions(project.project_id)
        self.assertEqual([s for s in kept + earlier if counts.get(s) != 1], [])
        self.assertEqual([s for s in dropped if s in counts], [])
        self.assertEqual(sum(counts.values()), len(earlier) + self.CAPACITY)
        after = self.log_figures()
        self.assertEqual(after['written_total'] - before['written_total'], self.CAPACITY)
        self.assertEqual(after['dropped_total'] - before['dropped_total'],
                         self.EXTRA + self.LARGE_CALLS)
        self.assertEqual((after['queue_depth'], after['store_failing']), (0, 0))


if __name__ == '__main__':
    unittest.main()
