"""Issue 12 item 5: kill -9 at a random moment under load loses nothing that was acknowledged.

Workers create organization tokens and make plain and streamed chat calls (each call with its
own saia-conversation-id) while the server is killed with SIGKILL at a random moment; it is
started again on the same data directory, and then every token whose creation was answered 2xx
must still work and every chat call that was answered completely (a whole JSON answer, or a
stream's data: [DONE], where a client may stop reading) must have its record in the export. Three rounds, each at most a few seconds of load, so the test stays bounded on 2 cores.
"""

import http.client
import json
import random
import socket
import threading
import time
import uuid

from .harness import HOST, ON_POSTGRES, PROVIDER, GatewayTestCase, unique, wait_until

ROUNDS = 3
WORKERS = {'token': 2, 'chat': 2, 'stream': 2}
KILL_AFTER_S = (0.4, 2.0)  # the kill comes at a random moment in this window of load
JOIN_TIMEOUT_S = 15.0


class CrashConsistencyTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()

    def organization_token_ids(self):
        ids, page = set(), 1
        while True:
            listed = self.ok(self.get(f'/v2/tokens?scope=organization&status=all'
                                      f'&pageSize=500&startPage={page}'))
            ids |= {t['id'] for t in listed['tokens']}
            if page >= listed['pages']:
                return ids
            page += 1

    def run_round(self, seed):
        """Drives load, kills the server, returns (tokens acknowledged, sessions answered)."""
        stop = threading.Event()
        lock = threading.Lock()
        tokens, sessions = [], []

        def create_tokens():
            while not stop.is_set():
                try:
                    response = self.server.request('POST', '/v2/organization/tokens',
                                                   body={'name': unique('crash')},
                                                   token=self.org_token)
                except (OSError, http.client.HTTPException):
                    return
                if response.status == 200:
                    with lock:
                        tokens.append((response.body['id'], response.body['secret']))

        def chat():
            while not stop.is_set():
                session = str(uuid.uuid4())
                try:
                    response = self.call_chat(self.project.token, f'{PROVIDER}/echo',
                                              session=session)
                except (OSError, http.client.HTTPException):
                    return
                if response.status == 200 and isinstance(response.body, dict):
                    with lock:
                        sessions.append(session)

        def stream():
            while not stop.is_set():
                session = str(uuid.uuid4())
                try:
                    reply = self.stream_chat(self.project.token, f'{PROVIDER}/stream',
                                             session=session)
                except (OSError, http.client.HTTPException):
                    return
                try:
                    events = reply.read_all() if reply.status == 200 else None
                finally:
                    reply.close()
                # Answered = [DONE] arrived: a client may stop reading there with the whole
                # answer, so the kill may cut the body's end after it and the record stays due.
                if events and events[-1][1] == '[DONE]':
                    with lock:
                        sessions.append(session)
                if reply.error is not None:
                    return

        targets = ([create_tokens] * WORKERS['token'] + [chat] * WORKERS['chat'] +
                   [stream] * WORKERS['stream'])
        threads = [threading.Thread(target=target, daemon=True) for target in targets]
        for thread in threads:
            thread.start()
        # Some of each kind acknowledged first: on a slow machine (ASan, a busy disk) the
        # earliest kill could otherwise come before any, and the round would test nothing.
        self.assertTrue(wait_until(lambda: tokens and sessions, 30.0),
                        f'no load was acknowledged in 30 s (seed {seed})')
        time.sleep(random.Random(seed).uniform(*KILL_AFTER_S))
        self.server.process.kill()
        self.server.process.wait(timeout=10)
        self.server.process = None
        stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.assertFalse(any(t.is_alive() for t in threads), 'a load worker did not finish')
        self.server.start()
        # /healthz answers as soon as the server listens; the journal's replay of what the
        # killed process left may still be retried (a store busy at the start). /readyz says
        # when the request log is whole again: an operator's load balancer waits for it too.
        self.assertTrue(wait_until(lambda: self.request('GET', '/readyz').status == 200, 30.0),
                        'the restarted server never became ready (the journal was not replayed)')
        return tokens, sessions

    def kill_and_restart(self):
        self.server.process.kill()
        self.server.process.wait(timeout=10)
        self.server.process = None
        self.server.start()
        self.assertTrue(wait_until(lambda: self.request('GET', '/readyz').status == 200, 30.0),
                        'the restarted server never became ready (the journal was not replayed)')

    def test_an_http_1_0_stream_whose_end_is_the_close_survives_kill_9(self):
        # An HTTP/1.0 client takes the close after the last event for the answer's end: the
        # record's journal frame must be written before it, as before any byte of an answer.
        # `mid-error-then-wait` ends its body well after its error event, so the call is
        # recorded (failed 502) only then, the gateway's last piece is empty, and the close is
        # all that follows. Killed at once after that close, on an idle server, before the writer's next
        # batch: nothing else would journal the record.
        session = str(uuid.uuid4())
        body = json.dumps({'model': f'{PROVIDER}/mid-error-then-wait', 'stream': True,
                           'messages': [{'role': 'user', 'content': 'hi'}]}).encode()
        with socket.create_connection((HOST, self.server.port), timeout=10) as sock:
            sock.sendall((f'POST /v1/chat/completions HTTP/1.0\r\nHost: {HOST}\r\n'
                          f'Authorization: Bearer {self.project.token}\r\n'
                          f'saia-conversation-id: {session}\r\n'
                          f'Content-Type: application/json\r\n'
                          f'Content-Length: {len(body)}\r\n\r\n').encode() + body)
            answer = b''
            while chunk := sock.recv(65536):
                answer += chunk
        self.kill_and_restart()
        self.assertTrue(answer.startswith(b'HTTP/1.1 200'), answer[:200])
        self.assertIn(b'overloaded', answer)
        self.assertNotIn(b'Transfer-Encoding', answer.split(b'\r\n\r\n', 1)[0])
        recorded = [item for item in self.export_items(projectId=self.project.project_id)
                    if item['sessionId'] == session]
        self.assertEqual([(item['status'], item['httpStatus']) for item in recorded],
                         [('failed', 502)])

    def test_a_stream_whose_done_reached_the_client_survives_kill_9(self):
        # A client may stop reading at [DONE] (the SDKs do): it has the whole answer, though the
        # provider's body ends only HELD_AFTER_DONE_S later. Killed at once after [DONE], long
        # before that end and before the writer's next batch: the record must be journaled.
        session = str(uuid.uuid4())
        stream = self.stream_chat(self.project.token, f'{PROVIDER}/done-then-wait',
                                  session=session)
        try:
            self.assertEqual(stream.status, 200)
            datas = []
            for _at, data in stream.events():
                datas.append(data)
                if data == '[DONE]':
                    break
        finally:
            self.kill_and_restart()
            stream.close()
        self.assertEqual(datas[-1], '[DONE]')
        recorded = [item for item in self.export_items(projectId=self.project.project_id)
                    if item['sessionId'] == session]
        self.assertEqual([(item['status'], item['httpStatus']) for item in recorded],
                         [('succeeded', 200)])

    def test_every_acknowledged_token_and_answered_call_survives_kill_9(self):
        seed = random.randrange(1 << 30)
        all_tokens, all_sessions = [], []
        for round_number in range(ROUNDS):
            with self.subTest(round=round_number, seed=seed):
                tokens, sessions = self.run_round(seed + round_number)
                self.assertTrue(tokens and sessions,
                                f'no load was acknowledged before the kill (seed {seed})')
                all_tokens += tokens
                all_sessions += sessions
                listed_ids = self.organization_token_ids()
                missing = [tid for tid, _ in all_tokens if tid not in listed_ids]
                self.assertEqual(missing, [], f'acknowledged tokens lost (seed {seed})')
                for _, secret in random.Random(seed).sample(tokens, min(5, len(tokens))):
                    self.assertTokenWorks(secret)
                recorded = {item['sessionId'] for item in
                            self.export_items(projectId=self.project.project_id)}
                lost = [s for s in all_sessions if s not in recorded]
                self.assertEqual(lost, [], f'{len(lost)} of {len(all_sessions)} answered calls '
                                           f'have no record after kill -9 (seed {seed})')
        # No duplicates: a replay after a crash never stores a record twice.
        items = self.export_items(projectId=self.project.project_id)
        self.assertEqual(len(items), len({item['requestId'] for item in items}))
        answered = set(all_sessions)
        per_session = {}
        for item in items:
            per_session[item['sessionId']] = per_session.get(item['sessionId'], 0) + 1
        self.assertEqual([s for s in answered if per_session.get(s) != 1], [])


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + ' '):
            return float(line.split()[1])
    raise AssertionError(f'{name} not in /metrics')


class FullDiskTests(GatewayTestCase):
    """While request records cannot be stored (a full disk, simulated with a trigger that makes
    every insert into `requests` fail), /readyz answers 503, at most request_log_capacity
    records wait in memory and the rest are counted as dropped; once the store takes writes
    again the waiting records are stored and /readyz answers 200."""

    CAPACITY = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()

    @classmethod
    def server_config(cls):
        return (f'[server]\nrequest_log_capacity = {cls.CAPACITY}\n\n' +
                super().server_config())

    def fill_the_disk(self):
        """From now on every insert into `requests` fails as on a full disk."""
        if ON_POSTGRES:
            self.server.store_execute(
                "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = 'disk_full'; END $$")
            self.server.store_execute('CREATE TRIGGER full_disk BEFORE INSERT ON requests '
                                      'FOR EACH ROW EXECUTE FUNCTION full_disk()')
        else:
            self.server.store_execute(
                "CREATE TRIGGER full_disk BEFORE INSERT ON requests "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")

    def free_the_disk(self, missing_ok=False):
        if_exists = 'IF EXISTS ' if missing_ok else ''
        if ON_POSTGRES:
            self.server.store_execute(f'DROP FUNCTION {if_exists}full_disk() CASCADE')
        else:
            self.server.store_execute(f'DROP TRIGGER {if_exists}full_disk')

    def metrics(self):
        response = self.request('GET', '/metrics')
        self.assertEqual(response.status, 200)
        return response.body if isinstance(response.body, str) else str(response.body)

    def test_readyz_is_503_and_records_are_bounded_while_the_store_cannot_take_them(self):
        self.assertEqual(self.request('GET', '/readyz').status, 200)
        self.fill_the_disk()
        self.addCleanup(self.free_the_disk, missing_ok=True)
        dropped_before = metric(self.metrics(), 'gatehouse_request_log_dropped_total')
        sessions = []
        for _ in range(3 * self.CAPACITY):
            session = str(uuid.uuid4())
            self.assertEqual(self.call_chat(self.project.token, f'{PROVIDER}/echo',
                                            session=session).status, 200)
            sessions.append(session)
        self.assertTrue(wait_until(lambda: self.request('GET', '/readyz').status == 503, 5.0),
                        '/readyz stayed 200 while request records could not be stored')
        text = self.metrics()
        self.assertEqual(metric(text, 'gatehouse_request_log_store_failing'), 1)
        self.assertLessEqual(metric(text, 'gatehouse_request_log_queue_depth'), self.CAPACITY)
        self.assertGreaterEqual(
            metric(text, 'gatehouse_request_log_dropped_total') - dropped_before,
            2 * self.CAPACITY)
        self.free_the_disk()
        self.assertTrue(wait_until(lambda: self.request('GET', '/readyz').status == 200, 5.0),
                        '/readyz stayed 503 after the store took writes again')
        stored = self.wait_items(lambda item: item['sessionId'] in sessions, self.CAPACITY,
                                 projectId=self.project.project_id)
        self.assertEqual(len(stored), self.CAPACITY)
        self.assertEqual(metric(self.metrics(), 'gatehouse_request_log_store_failing'), 0)
