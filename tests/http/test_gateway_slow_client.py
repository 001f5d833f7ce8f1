"""Issue 8, item 3 at the size the issue names: a client that reads 100 MiB of stream at 1 MiB/s
holds the server's memory flat, and its upstream is held back for the whole call.

A module of its own because it takes about 100 s: CTest runs it beside the other modules. It
runs against SQLite only, since nothing in it touches the store beyond the call's one record.
test_gateway_v2 keeps a 4-s version of the same rule for a quick signal."""

import time

from .gateway_cases import raw_chat
from .harness import (KEY_ENV, RSS_FOLLOWS_LIVE_MEMORY, GatewayTestCase, skip_when_sanitized,
                      unique)
from .load_upstream import WithLoadUpstream

PROVIDER = 'slowread'
READ_MIB = 100
RATE = 1 << 20  # bytes per second the client reads
# The whole call may take the 100 s of the read and some; the provider waits are not at stake.
CALL_TIMEOUT_MS = 180_000
# What may sit between the upstream and the client at any moment: the client's receive buffer,
# the server's send and receive buffers as the kernel tunes them to what is read (a few MiB
# each), the gateway's one piece in flight and the upstream's own write buffer. Far below the
# 100 MiB of the call; 8.1 MiB measured on a machine whose tcp_rmem maximum is 32 MiB.
MAX_IN_FLIGHT = 24 << 20
# The server's RSS may move by allocator pages and the kernel's accounting, not with the bytes
# relayed.
MAX_RSS_GROWTH = 16 << 20
STEP = 64 * 1024  # the client reads once this much is due: 16 reads a second


class SlowClientTests(WithLoadUpstream, GatewayTestCase):
    extra_serve_env = RSS_FOLLOWS_LIVE_MEMORY

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()

    @classmethod
    def server_config(cls):
        return '\n'.join(['[[providers]]', f'name = "{PROVIDER}"',
                          f'base_url = "{cls.load.base_url}"', f'api_key_env = "{KEY_ENV}"',
                          f'timeout_ms = {CALL_TIMEOUT_MS}', '', '[[providers.models]]',
                          f'name = "flood-{READ_MIB}"', 'input_usd_per_mtok = 1.0',
                          'output_usd_per_mtok = 2.0', ''])

    @skip_when_sanitized('an RSS bound')
    def test_a_client_reading_100_mib_at_1_mib_per_second_holds_server_memory_flat(self):
        session = unique('s-slow-100')
        sock = raw_chat(self.server.port, self.project.token, f'{PROVIDER}/flood-{READ_MIB}',
                        stream=True, receive_buffer=64 * 1024,
                        headers={'saia-conversation-id': session, 'Connection': 'close'})
        self.addCleanup(sock.close)
        rss_start = self.server.rss_bytes()
        sent_start = self.load.streamed_bytes
        rss = []          # (seconds, RSS) every half second
        worst_ahead = 0   # the most the upstream was ever ahead of the client
        received, tail = 0, b''
        start = last_sample = time.monotonic()
        while True:
            now = time.monotonic()
            due = int(RATE * (now - start)) - received
            if now - last_sample >= 0.5:
                last_sample = now
                rss.append((now - start, self.server.rss_bytes()))
                worst_ahead = max(worst_ahead,
                                  self.load.streamed_bytes - sent_start - received)
            if due < STEP:
                time.sleep((STEP - due) / RATE)
                continue
            data = sock.recv(due)
            if not data:
                break
            received += len(data)
            tail = (tail + data)[-256:]
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(received, READ_MIB << 20)
        self.assertIn(b'data: [DONE]', tail, 'the stream did not end with data: [DONE]')
        self.assertLess(worst_ahead, MAX_IN_FLIGHT,
                        f'the upstream was {worst_ahead >> 20} MiB ahead of the client: the '
                        'gateway did not hold it back')
        peak_at, peak = max(rss, key=lambda sample: sample[1])
        self.assertLess(peak - rss_start, MAX_RSS_GROWTH,
                        f'server RSS grew by {(peak - rss_start) >> 20} MiB (at {peak_at:.0f} s '
                        f'of {elapsed:.0f})')
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
