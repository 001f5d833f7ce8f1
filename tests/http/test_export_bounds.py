"""Issue 12 item 6: exports a client never reads cannot pin memory. Concurrent exports are
bounded per token and per organization (429 id 9002 with Retry-After beyond), and a client that
stops reading is disconnected once a write makes no progress for write_timeout_ms, which frees
the export's slot, cursor and buffers."""

import socket
import time
import uuid

from .harness import (HOST, HTTP_TIMEOUT_S, ON_POSTGRES, RSS_FOLLOWS_LIVE_MEMORY, SANITIZED,
                      GatehouseTestCase, wait_until)

RATE_LIMITED = (429, 9002, 'Rate limit exceeded')
ROWS = 20_000                    # about 20 MB of JSON: far more than the socket buffers hold
COLUMNS = ['id', 'organization_id', 'project_id', 'api_token_id', 'api_token_name', 'assistant',
           'intent', 'module', 'session_id', 'model', 'status', 'http_status', 'start_ms',
           'end_ms', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost', 'prompt',
           'input_text', 'output']
EXPORT_PATH = '/v1/organization/request/export?format=json'
# On PostgreSQL an export reads a page of 1,024 records at a time into one libpq result
# (kPageRows, src/store/postgres/pg_request_cursor.cc): about 1.2 MB of these rows.
PG_PAGE_BYTES = 1024 * 1200


def rss_bytes(pid):
    with open(f'/proc/{pid}/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS in /proc/PID/status')


class ExportSeeding:
    """Seeds ROWS request records into the class's server (stopped meanwhile)."""

    @classmethod
    def seed(cls):
        project = cls.server.request('POST', '/v1/organization/project',
                                     body={'name': f'exports-{uuid.uuid4().hex[:8]}'},
                                     token=cls.org_token).body
        assert cls.server.stop() == 0
        filler = 'lorem ipsum dolor sit amet ' * 10
        now_ms = int(time.time() * 1000)
        cls.server.store_insert(
            'requests', COLUMNS,
            ((str(uuid.uuid4()), cls.org_id, project['projectId'], cls.org_token_id, 'Default',
              'bot', 'default', 'chat', f'seed-{i}', 'fake/echo', 'succeeded', 200,
              now_ms - i * 1000, now_ms - i * 1000 + 400, 10, 5, 15, 0.0001,
              f'prompt {i} {filler}', f'input {i} {filler}', f'output {i} {filler}')
             for i in range(ROWS)))
        cls.server.start()

    def open_unread_export(self, token):
        """Starts an export with a tiny receive buffer, reads its head and then nothing more.
        Returns the socket (closed at the end of the test). An export that an earlier test
        closed holds its slot until the server's next write to it fails, so a 429 is tried
        again for a few seconds."""
        deadline = time.monotonic() + 10
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(sock.close)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(HTTP_TIMEOUT_S)
            sock.connect((HOST, self.server.port))
            sock.sendall(f'GET {EXPORT_PATH} HTTP/1.1\r\nHost: {HOST}\r\n'
                         f'Authorization: Bearer {token}\r\n\r\n'.encode())
            head = b''
            while b'\r\n\r\n' not in head:
                chunk = sock.recv(1024)
                self.assertTrue(chunk, 'the export closed before its head')
                head += chunk
            if not head.startswith(b'HTTP/1.1 429') or time.monotonic() > deadline:
                break
            sock.close()
            time.sleep(0.05)
        self.assertTrue(head.startswith(b'HTTP/1.1 200'), head[:300])
        return sock

    def small_export(self, token):
        return self.request('GET', '/v1/organization/request/export?format=json&count=1',
                            token=token)

    def assertRateLimited(self, response, context=''):
        self.assertEqual(response.status, RATE_LIMITED[0], f'{context} {response.body}'[:2000])
        self.assertEqual(response.body, {'errors': [{'id': RATE_LIMITED[1],
                                                     'description': RATE_LIMITED[2]}]})
        self.assertGreaterEqual(int(response.headers.get('Retry-After', '0')), 1)


class ExportBoundTests(ExportSeeding, GatehouseTestCase):

    @classmethod
    def server_config(cls):
        return '[server]\nmax_exports_per_token = 2\nmax_exports_per_organization = 3\n'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seed()

    def setUp(self):
        super().setUp()
        # Exports left unread by an earlier test end once the server sees their sockets closed.
        self.assertTrue(wait_until(lambda: self.small_export(self.org_token).status == 200, 10))

    def test_exports_beyond_the_bound_per_token_and_per_organization_are_429_id_9002(self):
        other = self.create_org_token()['secret']
        first = [self.open_unread_export(self.org_token) for _ in range(2)]
        self.assertRateLimited(self.small_export(self.org_token))        # token bound: 2
        self.assertEqual(self.small_export(other).status, 200)           # org: 2 + 1 of 3
        self.open_unread_export(other)
        self.assertRateLimited(self.small_export(other))                 # organization bound: 3
        for sock in first:
            sock.close()
        # Closing the unread exports frees their slots as soon as the server's next write fails.
        self.assertTrue(wait_until(lambda: self.small_export(self.org_token).status == 200, 10),
                        'slots of closed exports were not given back')

    def test_another_organization_is_not_bounded_by_this_one(self):
        sockets = [self.open_unread_export(self.org_token) for _ in range(2)]
        organization = self.create_organization()
        response = self.small_export(organization['apiToken']['secret'])
        self.assertEqual(response.status, 200, response.body)
        for sock in sockets:
            sock.close()


class StalledExportTests(ExportSeeding, GatehouseTestCase):
    serve_env = RSS_FOLLOWS_LIVE_MEMORY
    WRITE_TIMEOUT_S = 5.0
    BOUND = 16

    @classmethod
    def server_config(cls):
        return ('[server]\n'
                f'write_timeout_ms = {int(cls.WRITE_TIMEOUT_S * 1000)}\n'
                f'max_exports_per_token = {cls.BOUND}\n'
                f'max_exports_per_organization = {cls.BOUND}\n')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seed()

    def stall_and_wait_for_the_cut(self):
        """Opens BOUND exports that are never read, checks that one more is refused, and waits
        until the server has cut them (a new export then succeeds). Returns the RSS with them."""
        began = time.monotonic()
        stalled = [self.open_unread_export(self.org_token) for _ in range(self.BOUND)]
        opening_s = time.monotonic() - began
        response = self.small_export(self.org_token)
        # The first export stalls as soon as its head is read, so the server may cut it before the
        # last one opens if opening takes longer than the write timeout: the bound is then never
        # full. On PostgreSQL, opening 16 took 0.8-1.0 s on an idle machine and 2.7-3.1 s with two
        # busy processes beside it; with a 1.5-s timeout, one CI run saw the bound not full.
        self.assertRateLimited(response, f'{self.BOUND} exports opened in {opening_s:.2f} s')
        loaded = rss_bytes(self.server.pid)
        self.assertTrue(wait_until(lambda: self.small_export(self.org_token).status == 200, 15),
                        'the stalled exports were never disconnected')
        self.assertGreaterEqual(time.monotonic() - began, self.WRITE_TIMEOUT_S - 0.2)
        for sock in stalled:  # each was cut: its body ends without the final chunk
            received = b''
            sock.settimeout(HTTP_TIMEOUT_S)
            try:
                while chunk := sock.recv(1 << 20):
                    received += chunk
            except ConnectionResetError:
                pass
            self.assertFalse(received.endswith(b'0\r\n\r\n'), 'a stalled export completed')
            sock.close()
        time.sleep(0.5)
        return loaded

    def test_client_that_stops_reading_is_disconnected_and_its_memory_and_slot_freed(self):
        pid = self.server.pid
        self.assertEqual(self.small_export(self.org_token).status, 200)  # lazy set-up in the base
        time.sleep(0.3)
        base = rss_bytes(pid)
        first_loaded = self.stall_and_wait_for_the_cut()
        first_after = rss_bytes(pid)
        second_loaded = self.stall_and_wait_for_the_cut()
        second_after = rss_bytes(pid)
        third_loaded = self.stall_and_wait_for_the_cut()
        third_after = rss_bytes(pid)
        figures = (f'base {base >> 20} MiB; {self.BOUND} stalled exports: {first_loaded >> 20} '
                   f'MiB, after the cut {first_after >> 20} MiB; again: {second_loaded >> 20} '
                   f'MiB, after {second_after >> 20} MiB; a third time: {third_loaded >> 20} MiB, '
                   f'after {third_after >> 20} MiB')
        if SANITIZED:
            # ASan keeps freed memory in quarantine: RSS says nothing about the server there.
            # The cut and the freed slots above are still checked.
            return
        # Freed memory may stay in the allocator's arenas, but it is reused: a wave of stalled
        # exports does not pile on the earlier ones. Measured, the second wave still grew the
        # server by 5-17 MiB (the allocator settling), and the waves after it by nothing (-9 to
        # +4 MiB over six). The allocator also gives pages back now and then, so one wave's
        # "after" may sit well below the one before (76, then 56, then 75 MiB in one CI run):
        # the third wave is compared with the highest level the earlier waves left, which a
        # pile-up (about 45 MiB a wave) exceeds and a trim in between does not.
        settled = max(first_after, second_after)
        self.assertLess(third_after - settled, 16 * 2**20, f'RSS stays pinned: {figures}')
        # A stalled export on PostgreSQL held its page besides, which SQLite, stepping row by
        # row, does not; the allocator keeps those pages for the next wave as well.
        bound = 64 * 2**20 + (self.BOUND * PG_PAGE_BYTES if ON_POSTGRES else 0)
        self.assertLess(second_after - base, bound, f'RSS grew too much: {figures}')
