"""Issue 8 (gateway v2): no thread per call, pooled upstream connections, streaming with
backpressure, provider answers checked, max_tokens as one setting, /v1/models, /v1/embeddings
and the provider routes. Uses load_upstream.py (asyncio, counts connections) beside the fake
upstream of the other gateway tests."""

import asyncio
import http.client
import json
import resource
import time
import urllib.parse

from .harness import (E_ASSISTANT_NOT_FOUND, E_BAD_ENDPOINT, E_BAD_GATEWAY, E_BAD_TOKEN,
                      E_CONTENT_TYPE, E_NO_KEY, E_SCOPE, HOST, KEY_ENV, PROVIDER,
                      GatewayTestCase, e_pattern, e_required, provider_config,
                      skip_when_sanitized, unique, wait_until)
from .gateway_cases import ChatStream, raw_chat
from .load_upstream import EMBED_USAGE, FIXED_USAGE, LEAKY_KEY_FRAGMENT, WithLoadUpstream

E_RATE_LIMITED = (429, 9002, 'Rate limit exceeded')
E_PROVIDER_TIMEOUT = (504, 100, 'Provider Request Timeout')
LOAD = 'load'
LOAD_MODELS = ['fixed', 'stream-10x200', 'stream-3x50', 'flood-64', 'hold', 'json-stream',
               'auth-401', 'rate-429', 'bad-400', 'bad-usage', 'bad-usage-stream', 'emb',
               'huge-event', 'huge-tail']
WHOLE_CALL_MS = 1500


# A model name with a '/' in it, as Hugging Face-style names have.
SLASHED_MODEL = 'vendor/model-1'


def load_config(base_url):
    lines = []
    providers = [(LOAD, 'timeout_ms = 15000', LOAD_MODELS),
                 ('loadslow', f'timeout_ms = {WHOLE_CALL_MS}', ['trickle']),
                 ('capped', 'timeout_ms = 15000\nmax_concurrent = 2', ['hold']),
                 ('tokencap', 'timeout_ms = 15000\nmax_concurrent_per_token = 1', ['hold']),
                 ('slashed', 'timeout_ms = 15000', [SLASHED_MODEL]),
                 ('unpriced', 'timeout_ms = 15000', [])]  # no models: any model, no prices
    for name, settings, models in providers:
        lines += ['[[providers]]', f'name = "{name}"', f'base_url = "{base_url}"',
                  f'api_key_env = "{KEY_ENV}"', settings, '']
        for model in models:
            lines += ['[[providers.models]]', f'name = "{model}"', 'input_usd_per_mtok = 1.0',
                      'output_usd_per_mtok = 2.0', '']
    return '\n'.join(lines)


async def _stream_once(port, token, model, deadline_s):
    """One streamed chat over a raw socket; True when it ended with data: [DONE]."""
    body = json.dumps({'model': model, 'stream': True,
                       'messages': [{'role': 'user', 'content': 'hi'}]}).encode()
    request = (f'POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\n'
               f'Authorization: Bearer {token}\r\nContent-Type: application/json\r\n'
               f'Content-Length: {len(body)}\r\nConnection: close\r\n\r\n').encode() + body
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), deadline_s)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), deadline_s)
        return data.startswith(b'HTTP/1.1 200') and b'data: [DONE]' in data
    finally:
        writer.close()


async def _many_streams(port, token, model, count, deadline_s):
    results = await asyncio.gather(*[_stream_once(port, token, model, deadline_s)
                                     for _ in range(count)], return_exceptions=True)
    return sum(1 for r in results if r is True), [r for r in results if r is not True][:3]


class GatewayV2Tests(WithLoadUpstream, GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        # 1,000 client sockets and 1,000 upstream sockets live in this process at once.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        super().setUpClass()
        cls.project = cls.make_project()

    @classmethod
    def server_config(cls):
        return provider_config(cls.upstream.base_url) + '\n' + load_config(cls.load.base_url)

    def metric(self, name):
        text = self.request('GET', '/metrics').body
        for line in text.splitlines():
            if line.startswith(name + ' '):
                return float(line.split()[1])
        self.fail(f'{name} not in /metrics')

    # --- item 2: connection pools --------------------------------------------------------
    def test_sequential_calls_over_one_client_connection_reuse_one_upstream_connection(self):
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        self.addCleanup(conn.close)
        self.ok(self.request('POST', '/v1/chat/completions', connection=conn,
                             token=self.project.token,
                             body={'model': f'{LOAD}/fixed',
                                   'messages': [{'role': 'user', 'content': 'warm'}]}))
        before = self.load.connections
        created_before = self.metric('gatehouse_upstream_connections_created_total')
        for i in range(200):
            response = self.request('POST', '/v1/chat/completions', connection=conn,
                                    token=self.project.token,
                                    body={'model': f'{LOAD}/fixed',
                                          'messages': [{'role': 'user', 'content': f'q{i}'}]})
            self.assertEqual(response.status, 200, response.body)
            self.assertEqual(response.body['usage']['prompt_tokens'], FIXED_USAGE['prompt_tokens'])
        # One client connection lands on one event loop, whose pool serves every call.
        self.assertEqual(self.load.connections - before, 0,
                         'the upstream saw new connections: pooled connections were not reused')
        self.assertEqual(self.metric('gatehouse_upstream_connections_created_total'),
                         created_before)
        self.assertGreaterEqual(self.metric('gatehouse_upstream_connections_reused_total'), 200)
        self.assertGreaterEqual(self.metric('gatehouse_upstream_connections_idle'), 1)

    def test_an_upstream_that_closes_an_idle_pooled_connection_costs_no_failed_call(self):
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        self.addCleanup(conn.close)
        body = {'model': f'{LOAD}/fixed', 'messages': [{'role': 'user', 'content': 'x'}]}
        for _ in range(3):
            self.ok(self.request('POST', '/v1/chat/completions', connection=conn,
                                 token=self.project.token, body=body))
        before = self.load.connections
        self.load.close_idle_connections()
        time.sleep(0.2)
        for _ in range(3):
            self.ok(self.request('POST', '/v1/chat/completions', connection=conn,
                                 token=self.project.token, body=body))
        self.assertEqual(self.load.connections - before, 1, 'one fresh connection, then reuse')

    # --- items 1 and 3: no thread per call, backpressure, cancellation --------------------
    @skip_when_sanitized('a throughput bound')
    def test_1000_concurrent_two_second_streams_finish_in_under_6_seconds(self):
        started = time.monotonic()
        done, errors = asyncio.run(_many_streams(self.server.port, self.project.token,
                                                 f'{LOAD}/stream-10x200', 1000, 20))
        elapsed = time.monotonic() - started
        self.assertEqual(done, 1000, f'only {done} of 1000 streams completed: {errors!r}')
        self.assertLess(elapsed, 6.0, f'1000 concurrent 2-s streams took {elapsed:.1f} s')

    @skip_when_sanitized('a latency bound under load')
    def test_one_projects_slow_calls_never_delay_other_calls_or_management_requests(self):
        other = self.make_project()
        other_org = self.create_organization()['apiToken']['secret']
        other_org_project = self.ok(self.request('POST', '/v1/organization/project',
                                                 body={'name': unique('fair')}, token=other_org))
        other_org_token = other_org_project['tokens'][0]['secret']
        chat_body = {'model': f'{LOAD}/fixed', 'messages': [{'role': 'user', 'content': 'x'}]}
        calls = [
            ('validate', lambda: self.request('GET', '/v1/accessControl/apitoken/validate',
                                              token=self.project.token)),
            ('chat of another project', lambda: self.request(
                'POST', '/v1/chat/completions', token=other.token, body=chat_body)),
            ("another organization's chat", lambda: self.request(
                'POST', '/v1/chat/completions', token=other_org_token, body=chat_body)),
            ("another organization's export", lambda: self.request(
                'GET', '/v1/organization/request/export?format=csv', token=other_org)),
            ('project listing', lambda: self.request('GET', '/v1/organization/projects',
                                                     token=self.org_token)),
            ("another organization's project listing", lambda: self.request(
                'GET', '/v1/organization/projects', token=other_org)),
        ]

        async def scenario():
            holds = [asyncio.ensure_future(_stream_once(self.server.port, self.project.token,
                                                        f'{LOAD}/stream-10x200', 20))
                     for _ in range(300)]
            await asyncio.sleep(0.5)
            worst = {name: 0.0 for name, _call in calls}
            loop = asyncio.get_running_loop()
            for _ in range(10):
                for name, call in calls:
                    begin = time.monotonic()
                    response = await loop.run_in_executor(None, call)
                    worst[name] = max(worst[name], time.monotonic() - begin)
                    self.assertEqual(response.status, 200, (name, response.body))
            await asyncio.gather(*holds, return_exceptions=True)
            return worst
        for name, seconds in asyncio.run(scenario()).items():
            self.assertLess(seconds, 0.5, f'{name} took {seconds:.3f} s while 300 streams of '
                                          'one project ran')

    @skip_when_sanitized('an RSS bound')
    def test_a_slow_client_slows_its_own_upstream_read_and_memory_stays_flat(self):
        sock = raw_chat(self.server.port, self.project.token, f'{LOAD}/flood-64', stream=True,
                        receive_buffer=64 * 1024)
        self.addCleanup(sock.close)
        rss_start = self.server.rss_bytes()
        start_sent = self.load.streamed_bytes
        received = 0
        peak_rss = rss_start
        # About 4 MiB/s for 4 s: far slower than the upstream could send.
        for _ in range(80):
            received += len(sock.recv(200 * 1024))
            time.sleep(0.05)
            peak_rss = max(peak_rss, self.server.rss_bytes())
        sent = self.load.streamed_bytes - start_sent
        self.assertGreater(received, 1 << 20)
        self.assertLess(sent - received, 24 << 20,
                        f'the upstream sent {sent >> 20} MiB while the client read '
                        f'{received >> 20} MiB: the gateway did not hold the upstream back')
        self.assertLess(peak_rss - rss_start, 24 << 20,
                        f'server RSS grew by {(peak_rss - rss_start) >> 20} MiB')

    def test_a_client_that_leaves_cancels_the_upstream_call_at_once_and_is_recorded_499(self):
        session = unique('s-leave')
        sock = raw_chat(self.server.port, self.project.token, f'{LOAD}/hold',
                        headers={'saia-conversation-id': session})
        before = len(self.load.closed_while_holding)
        time.sleep(0.5)
        sock.close()
        self.assertTrue(wait_until(lambda: len(self.load.closed_while_holding) > before, 2.0),
                        'the upstream call went on after the client left')
        self.assertLess(self.load.closed_while_holding[-1], 2.0)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 499))

    def test_a_client_that_leaves_behind_bytes_it_sent_is_still_seen_leaving(self):
        # Bytes the server has not read (here the start of a pipelined request; under TLS, the
        # close_notify a client sends before its FIN) must not hide the FIN that follows them.
        session = unique('s-leave-bytes')
        sock = raw_chat(self.server.port, self.project.token, f'{LOAD}/hold',
                        headers={'saia-conversation-id': session})
        before = len(self.load.closed_while_holding)
        # The server has read the request (the upstream holds the call) and, past its grace
        # period, watches the client: the bytes below stay in the socket, unread.
        self.assertTrue(wait_until(lambda: self.load.holding > 0, 5.0))
        time.sleep(0.2)
        sock.sendall(b'GET /healthz HTTP/1.1\r\n')
        time.sleep(0.3)
        sock.close()
        self.assertTrue(wait_until(lambda: len(self.load.closed_while_holding) > before, 2.0),
                        'the upstream call went on after the client left')
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 499))

    def test_a_client_that_leaves_a_stream_cancels_its_upstream_call_at_once(self):
        session = unique('s-leave-stream')
        left = len(self.load.streams_left)
        # 10 events 200 ms apart: the upstream looks for its connection's end before each one.
        stream = self.stream_chat(self.project.token, f'{LOAD}/stream-10x200', session=session)
        self.assertEqual(stream.status, 200)
        next(stream.events())
        stream.close()
        self.assertTrue(wait_until(lambda: len(self.load.streams_left) > left, 2.0),
                        'the upstream stream went on after the client left')
        self.assertLess(self.load.streams_left[-1], 1.0)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 499))

    # --- item 6: provider answers are checked ----------------------------------------------
    def test_a_stream_answered_with_json_is_502_and_recorded_failed(self):
        session = unique('s-json')
        stream = self.stream_chat(self.project.token, f'{LOAD}/json-stream', session=session)
        self.addCleanup(stream.close)
        self.assertError(stream.reply(), E_BAD_GATEWAY)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_malformed_chat_bodies_are_400_id_11_and_never_sent_upstream(self):
        cases = [('stream', {'stream': 'yes'}),
                 ('messages', {'messages': [1]}),
                 ('messages', {'messages': [{'content': 'no role'}]})]
        for field, change in cases:
            with self.subTest(change=change):
                text = unique('malformed')
                body = {'model': f'{PROVIDER}/echo',
                        'messages': [{'role': 'user', 'content': text}]}
                body.update(change)
                response = self.request('POST', '/v1/chat/completions', body=body,
                                        token=self.project.token)
                self.assertError(response, e_pattern(field))
                time.sleep(0.1)
                self.assertEqual(self.upstream.requests_with(text), [])

    # --- API.md section 1: body keys in any case; relayed as OpenAI spells them ------------
    def test_chat_body_keys_are_read_in_any_case_and_relayed_as_openai_spells_them(self):
        text = unique('anycase')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token, body={
            'Model': f'{PROVIDER}/echo', 'MESSAGES': [{'Role': 'user', 'CONTENT': text}],
            'Max_Tokens': 7, 'Stream': False, 'user': 'u-1'})
        self.assertEqual(response.status, 200, response.body)
        [call] = self.upstream.wait_for(text)
        self.assertEqual(call['body'], {'model': 'echo', 'max_tokens': 7, 'stream': False,
                                        'user': 'u-1',
                                        'messages': [{'role': 'user', 'content': text}]})

    def test_a_stream_asked_for_in_another_case_is_streamed(self):
        stream = ChatStream(self.server.port, '/v1/chat/completions',
                            {'model': f'{LOAD}/stream-3x50', 'STREAM': True,
                             'messages': [{'role': 'user', 'content': 'hi'}]},
                            self.project.token)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertTrue(stream.headers['Content-Type'].startswith('text/event-stream'))
        self.assertEqual(stream.read_all()[-1][1], '[DONE]')

    def test_a_body_key_in_two_spellings_goes_upstream_once_its_own_spelling_winning(self):
        text = unique('twice')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token, body={
            'Max_tokens': 3, 'model': f'{PROVIDER}/echo', 'Model': f'{PROVIDER}/nope',
            'messages': [{'role': 'user', 'content': text}], 'max_tokens': 9, 'MAX_TOKENS': 5})
        self.assertEqual(response.status, 200, response.body)
        [call] = self.upstream.wait_for(text)
        self.assertEqual((call['body']['model'], call['body']['max_tokens']), ('echo', 9))
        self.assertEqual(sorted(call['body']), ['max_tokens', 'messages', 'model'])

    def test_embeddings_body_keys_are_read_in_any_case(self):
        response = self.request('POST', '/v1/embeddings', token=self.project.token,
                                body={'MODEL': f'{LOAD}/emb', 'Input': 'embed this'})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(self.load.embedding_bodies[-1], {'model': 'emb', 'input': 'embed this'})

    def test_every_problem_of_a_chat_body_is_reported(self):
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': 5, 'messages': 'hi', 'stream': 'yes'})
        for field in ('model', 'messages', 'stream'):
            self.assertError(response, e_pattern(field))
        self.assertEqual(len(response.body['errors']), 3, response.body)
        response = self.request('POST', '/v1/embeddings', token=self.project.token, body={})
        for field in ('model', 'input'):
            self.assertError(response, e_required(field))
        # The reference SDK's threadId is checked with the rest.
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': f'{PROVIDER}/echo', 'messages': [],
                                      'threadId': 5})
        self.assertError(response, e_pattern('threadId'))
        self.assertError(response, e_required('messages'))

    def test_a_chat_refused_for_its_body_is_recorded_with_the_model_it_named(self):
        session = unique('s-refused-model')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': f'{PROVIDER}/echo', 'stream': 'yes',
                                      'messages': [{'role': 'user', 'content': 'x'}]},
                                headers={'saia-conversation-id': session})
        self.assertError(response, e_pattern('stream'))
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus'], record['model']),
                         ('failed', 400, f'{PROVIDER}/echo'))

    def test_a_chat_refused_for_its_body_keeps_the_session_its_thread_id_names(self):
        thread = unique('thread-refused')
        response = self.request('POST', '/v1/chat/completions', token=self.project.token,
                                body={'model': f'{PROVIDER}/echo', 'stream': 'yes',
                                      'threadId': thread,
                                      'messages': [{'role': 'user', 'content': 'x'}]})
        self.assertError(response, e_pattern('stream'))
        record = self.wait_record(thread, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 400))

    def test_provider_401_is_502_id_502_without_the_providers_message(self):
        session = unique('s-401')
        response = self.chat(self.project.token, f'{LOAD}/auth-401', session=session)
        self.assertError(response, E_BAD_GATEWAY)
        self.assertNotIn(LEAKY_KEY_FRAGMENT[:10], json.dumps(response.body))
        self.assertEqual(self.wait_record(session, self.project.token)['httpStatus'], 502)

    def test_provider_failures_are_logged_at_most_ten_a_second_with_a_count_of_the_rest(self):
        line = "rejected the gateway's credentials"
        before = self.server.log_text().count(line)
        conn = http.client.HTTPConnection(HOST, self.server.port, timeout=10)
        self.addCleanup(conn.close)
        started = time.monotonic()
        for _ in range(60):
            self.assertError(self.request('POST', '/v1/chat/completions', connection=conn,
                                          token=self.project.token,
                                          body={'model': f'{LOAD}/auth-401', 'messages': [
                                              {'role': 'user', 'content': 'x'}]}),
                             E_BAD_GATEWAY)
        seconds = time.monotonic() - started
        logged = self.server.log_text().count(line) - before
        self.assertLessEqual(logged, 10 * (int(seconds) + 2), f'{logged} lines in {seconds:.1f} s')
        self.assertLess(logged, 60, f'every failure was logged ({seconds:.1f} s)')
        time.sleep(1.1)  # the next second's first line tells how many were held back
        self.chat(self.project.token, f'{LOAD}/auth-401')
        self.assertTrue(wait_until(lambda: 'more provider warnings held back'
                                   in self.server.log_text(), 2.0))

    def test_provider_429_is_429_id_9002_with_the_providers_retry_after(self):
        response = self.chat(self.project.token, f'{LOAD}/rate-429')
        self.assertError(response, E_RATE_LIMITED)
        self.assertEqual(response.headers.get('Retry-After'), '17')

    def test_provider_4xx_is_wrapped_in_the_error_envelope_without_any_key(self):
        session = unique('s-400')
        response = self.chat(self.project.token, f'{LOAD}/bad-400', session=session)
        self.assertEqual(response.status, 400, response.body)
        [item] = response.body['errors']
        self.assertEqual(item['id'], 400)
        self.assertTrue(item['description'].startswith('Invalid value for temperature'))
        self.assertNotIn(LEAKY_KEY_FRAGMENT[3:12], item['description'])
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 400))

    def test_negative_or_absurd_usage_is_refused_and_the_call_recorded_with_estimates(self):
        session = unique('s-usage')
        body = self.ok(self.chat(self.project.token, f'{LOAD}/bad-usage', session=session,
                                 text='four words of text'))
        self.assertGreater(body['usage']['prompt_tokens'], 0)
        self.assertLess(body['usage']['completion_tokens'], 1000)
        record = self.wait_record(session, self.project.token)
        self.assertGreater(record['promptTokens'], 0)
        self.assertLess(record['completionTokens'], 1000)

    def streamed_usage(self, model, **kw):
        """The usage of the one event that carries it, in a stream that asked for it."""
        stream = self.stream_chat(self.project.token, model,
                                  extra={'stream_options': {'include_usage': True}}, **kw)
        self.addCleanup(stream.close)
        events = stream.read_all()
        self.assertEqual(events[-1][1], '[DONE]')
        [usage] = [json.loads(data)['usage'] for _t, data in events
                   if data != '[DONE]' and json.loads(data).get('usage')]
        return usage

    def test_absurd_usage_in_a_stream_is_replaced_by_the_estimate_the_record_keeps(self):
        session = unique('s-usage-stream')
        usage = self.streamed_usage(f'{LOAD}/bad-usage-stream', session=session,
                                    text='four words of text')
        self.assertGreater(usage['prompt_tokens'], 0)
        self.assertEqual(usage['completion_tokens'], 3, 'twelve characters, four a token')
        self.assertEqual(usage['total_tokens'], usage['prompt_tokens'] + 3)
        self.assertIn('total_cost', usage)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (usage['prompt_tokens'], 3))

    def test_without_configured_prices_the_usage_gets_no_cost_fields(self):
        # API.md §8: usage is extended with costs "when prices are configured"; zeros would
        # tell the client the call was free.
        body = self.ok(self.chat(self.project.token, 'unpriced/fixed'))
        self.assertTrue(body['usage']['prompt_tokens'])
        for field in ('prompt_cost', 'completion_cost', 'total_cost', 'currency'):
            self.assertNotIn(field, body['usage'])
        usage = self.streamed_usage('unpriced/stream-2x1')
        self.assertTrue(usage['prompt_tokens'])
        self.assertNotIn('total_cost', usage)
        # Priced, the same answer gains them.
        priced = self.ok(self.chat(self.project.token, f'{LOAD}/fixed'))
        self.assertIn('total_cost', priced['usage'])

    def test_a_stream_event_over_1_mib_is_never_relayed_and_ends_the_call_as_502(self):
        # Held whole it could be metered and its texts redacted; no chat stream sends one this
        # long, so the gateway neither holds nor relays it: the stream ends there, broken.
        # huge-tail's last event reaches the bound only with the line break the body's end adds.
        for model in ('huge-event', 'huge-tail'):
            with self.subTest(model=model):
                session = unique(f's-{model}')
                stream = self.stream_chat(self.project.token, f'{LOAD}/{model}', session=session)
                self.addCleanup(stream.close)
                self.assertEqual(stream.status, 200)
                raw = stream.response.read()
                self.assertLess(len(raw), 64 * 1024, 'the long event was relayed')
                self.assertNotIn(LEAKY_KEY_FRAGMENT[:10].encode(), raw)
                self.assertIn(b'before ', raw)
                self.assertNotIn(b'after ', raw, 'the stream went on after the long event')
                self.assertNotIn(b'[DONE]', raw)
                events = [line[5:].strip() for line in raw.decode().splitlines()
                          if line.startswith('data:')]
                self.assertEqual(json.loads(events[-1])['error']['code'], 502)
                record = self.wait_record(session, self.project.token)
                self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_timeout_ms_bounds_the_whole_call_of_a_provider_trickling_bytes(self):
        session = unique('s-trickle')
        started = time.monotonic()
        stream = self.stream_chat(self.project.token, 'loadslow/trickle', session=session)
        self.addCleanup(stream.close)
        events = stream.read_all()
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, WHOLE_CALL_MS / 1000 + 1.5, 'the whole-call bound was not applied')
        self.assertNotIn('[DONE]', [d for _t, d in events])
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 504))

    # --- item 5: caps ----------------------------------------------------------------------
    def _hold_in_background(self, model, token, count):
        socks = []
        for _ in range(count):
            sock = raw_chat(self.server.port, token, model)
            socks.append(sock)
            self.addCleanup(sock.close)
        time.sleep(0.3)
        return socks

    def test_calls_beyond_a_providers_concurrency_cap_are_429_id_9002(self):
        socks = self._hold_in_background('capped/hold', self.project.token, 2)
        response = self.chat(self.project.token, 'capped/hold')
        self.assertError(response, E_RATE_LIMITED)
        self.assertTrue(response.headers.get('Retry-After'))
        for sock in socks:
            sock.close()

    def test_calls_beyond_the_per_token_cap_are_429_but_another_token_passes(self):
        # Holds of earlier tests end when their clients leave (at most HOLD_S later).
        self.assertTrue(wait_until(lambda: self.load.holding == 0, 12.0))
        socks = self._hold_in_background('tokencap/hold', self.project.token, 1)
        self.assertTrue(wait_until(lambda: self.load.holding == 1, 5.0))
        self.assertError(self.chat(self.project.token, 'tokencap/hold'), E_RATE_LIMITED)
        other = self.make_token(self.project.project_id)
        socks += self._hold_in_background('tokencap/hold', other.token, 1)
        self.assertTrue(wait_until(lambda: self.load.holding == 2, 5.0),
                        "the other token's call did not reach the provider beside the first")
        for sock in socks:
            sock.close()

    # --- item 7: max_tokens ----------------------------------------------------------------
    def test_max_tokens_and_max_completion_tokens_are_one_setting_exactly_one_goes_upstream(self):
        text = unique('both')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                          extra={'max_tokens': 10, 'max_completion_tokens': 20}))
        [call] = self.upstream.wait_for(text)
        self.assertNotIn('max_tokens', call['body'])
        self.assertEqual(call['body']['max_completion_tokens'], 20)

    def test_the_assistants_max_tokens_wins_under_the_name_the_client_used(self):
        bot = self.make_assistant(self.project.token, max_tokens=321)
        text = unique('sdk')
        self.ok(self.chat(self.project.token, f'saia:assistant:{bot["assistantName"]}', text=text,
                          extra={'max_completion_tokens': 5}))
        [call] = self.upstream.wait_for(text)
        self.assertEqual(call['body']['max_completion_tokens'], 321)
        self.assertNotIn('max_tokens', call['body'])

    # --- item 8: more of the OpenAI surface ------------------------------------------------
    def test_embeddings_are_relayed_metered_and_recorded_with_module_embeddings(self):
        session = unique('s-emb')
        response = self.request('POST', '/v1/embeddings', token=self.project.token,
                                body={'model': f'{LOAD}/emb', 'input': 'embed this'},
                                headers={'saia-conversation-id': session})
        body = self.ok(response)
        self.assertEqual(body['data'][0]['embedding'], [0.25, -0.5, 0.125])
        self.assertAlmostEqual(body['usage']['total_cost'], EMBED_USAGE['prompt_tokens'] / 1e6)
        self.assertEqual(self.load.embedding_bodies[-1]['model'], 'emb')
        record = self.wait_record(session, self.project.token)
        self.assertEqual(record['module'], 'embeddings')
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (EMBED_USAGE['prompt_tokens'], 0))
        self.assertEqual(record['status'], 'succeeded')

    def test_embeddings_need_a_project_token_and_a_known_model(self):
        self.assertError(self.request('POST', '/v1/embeddings', token=self.org_token,
                                      body={'model': f'{LOAD}/emb', 'input': 'x'}), E_SCOPE)
        self.assertError(self.request('POST', '/v1/embeddings', token=self.project.token,
                                      body={'model': 'nope/emb', 'input': 'x'}),
                         e_pattern('model'))

    def test_v1_models_lists_what_the_project_token_can_call(self):
        bot = self.make_assistant(self.project.token)
        body = self.ok(self.request('GET', '/v1/models', token=self.project.token))
        self.assertEqual(body['object'], 'list')
        ids = {item['id']: item for item in body['data']}
        self.assertEqual(ids[f'{LOAD}/fixed'],
                         {'id': f'{LOAD}/fixed', 'object': 'model', 'created': 0,
                          'owned_by': LOAD})
        self.assertEqual(ids[f'saia:assistant:{bot["assistantName"]}']['owned_by'], 'assistant')
        other = self.make_project()
        other_ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                           token=other.token))['data']}
        self.assertNotIn(f'saia:assistant:{bot["assistantName"]}', other_ids)
        self.assertError(self.request('GET', '/v1/models', token=self.org_token), E_SCOPE)

    def test_v1_models_leaves_out_an_assistant_that_has_no_model_to_run(self):
        # API.md §8: /v1/models is "what this project token can call".
        name = unique('no-model')
        self.ok(self.request('POST', '/v1/assistant', token=self.project.token,
                             body={'name': name, 'prompt': 'p'}))
        ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                     token=self.project.token))['data']}
        self.assertNotIn(f'saia:assistant:{name}', ids)
        self.ok(self.request('PUT', f'/v1/assistant/{name}', token=self.project.token,
                             body={'llmSettings': {'providerName': LOAD, 'modelName': 'fixed'}}))
        ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                     token=self.project.token))['data']}
        self.assertIn(f'saia:assistant:{name}', ids)

    def test_provider_routes_return_one_provider_its_models_and_one_model(self):
        listed = self.ok(self.request('GET', '/v2/llm/providers', token=self.org_token))
        [entry] = [p for p in listed['providers'] if p['name'] == LOAD]
        self.assertEqual(self.ok(self.request('GET', f'/v2/llm/providers/{LOAD}',
                                              token=self.org_token)), entry)
        self.assertEqual(self.ok(self.request('GET', f'/v2/llm/providers/{LOAD}/models',
                                              token=self.project.token)),
                         {'models': entry['models']})
        [fixed] = [m for m in entry['models'] if m['name'] == 'fixed']
        self.assertEqual(self.ok(self.request('GET', f'/v2/llm/providers/{LOAD}/models/fixed',
                                              token=self.org_token)), fixed)
        for path in ('/v2/llm/providers/nope', '/v2/llm/providers/nope/models',
                     f'/v2/llm/providers/{LOAD}/models/nope'):
            self.assertError(self.request('GET', path, token=self.org_token), E_BAD_ENDPOINT)

    def test_the_provider_routes_answer_either_scope_and_refuse_bad_credentials(self):
        paths = [f'/v2/llm/providers/{LOAD}', f'/v2/llm/providers/{LOAD}/models',
                 f'/v2/llm/providers/{LOAD}/models/fixed']
        for path in paths:
            for token in (self.org_token, self.project.token):
                with self.subTest(path=path, scope='org' if token == self.org_token else 'project'):
                    self.ok(self.request('GET', path, token=token))
        blocked = self.make_token(self.project.project_id)
        self.ok(self.request('PUT', f'/v2/projects/tokens/{blocked.token_id}',
                             body={'status': 'blocked'}, token=self.org_token))
        calls = [('GET', path, None) for path in paths + ['/v1/models']] + [
            ('POST', '/v1/embeddings', {'model': f'{LOAD}/emb', 'input': 'x'})]
        for method, path, body in calls:
            with self.subTest(path=path):
                self.assertError(self.request(method, path, body=body, token=None), E_NO_KEY)
                self.assertError(self.request(method, path, body=body, token=blocked.token),
                                 E_BAD_TOKEN)

    def test_v1_models_leaves_out_a_provider_configured_without_models(self):
        ids = {i['id'] for i in self.ok(self.request('GET', '/v1/models',
                                                     token=self.project.token))['data']}
        self.assertIn(f'{LOAD}/fixed', ids)
        self.assertFalse([i for i in ids if i.startswith('unpriced/')], ids)

    def test_embeddings_bodies_are_checked_before_anything_goes_upstream(self):
        before = len(self.load.embedding_bodies)
        cases = [({'model': f'{LOAD}/emb', 'input': 5}, e_pattern('input')),
                 ({'model': f'{LOAD}/emb', 'input': {'text': 'x'}}, e_pattern('input')),
                 ({'model': 'saia:assistant:bot', 'input': 'x'}, e_pattern('model')),
                 ({'model': f'{LOAD}/emb'}, e_required('input'))]
        for body, error in cases:
            with self.subTest(body=body):
                self.assertError(self.request('POST', '/v1/embeddings', body=body,
                                              token=self.project.token), error)
        self.assertEqual(len(self.load.embedding_bodies), before)

    def test_a_null_stream_is_no_stream_and_a_role_that_is_not_text_is_refused(self):
        text = unique('nullstream')
        response = self.chat(self.project.token, f'{PROVIDER}/echo', text=text,
                             extra={'stream': None})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.headers['Content-Type'].split(';')[0], 'application/json')
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.project.token,
                                      body={'model': f'{PROVIDER}/echo',
                                            'messages': [{'role': 5, 'content': 'x'}]}),
                         e_pattern('messages'))

    def test_chat_calls_refused_before_the_provider_are_recorded_and_scope_refusals_are_not(self):
        session = unique('s-refused')
        headers = {'saia-conversation-id': session}
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.project.token,
                                      raw_body=b'model=x', headers=headers,
                                      content_type='application/x-www-form-urlencoded'),
                         E_CONTENT_TYPE)
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.project.token,
                                      body={'model': 'saia:assistant:nobody-here',
                                            'messages': [{'role': 'user', 'content': 'x'}]},
                                      headers=headers), E_ASSISTANT_NOT_FOUND)
        records = self.wait_items(lambda i: i.get('sessionId') == session, 2)
        self.assertEqual(sorted((r['status'], r['httpStatus']) for r in records),
                         [('failed', 404), ('failed', 415)])
        # An organization token's call and a call without credentials are no project's call.
        other = unique('s-noscope')
        self.assertError(self.request('POST', '/v1/chat/completions', token=self.org_token,
                                      body={'model': f'{PROVIDER}/echo',
                                            'messages': [{'role': 'user', 'content': 'x'}]},
                                      headers={'saia-conversation-id': other}), E_SCOPE)
        time.sleep(0.5)
        self.assertEqual([i for i in self.export_items() if i.get('sessionId') == other], [])

    def test_a_model_whose_name_has_a_slash_is_fetched_with_the_slash_percent_encoded(self):
        encoded = urllib.parse.quote(SLASHED_MODEL, safe='')
        self.assertEqual(encoded, 'vendor%2Fmodel-1')
        body = self.ok(self.request('GET', f'/v2/llm/providers/slashed/models/{encoded}',
                                    token=self.org_token))
        self.assertEqual(body['name'], SLASHED_MODEL)
        self.assertError(self.request('GET', f'/v2/llm/providers/slashed/models/{SLASHED_MODEL}',
                                      token=self.org_token), E_BAD_ENDPOINT)
