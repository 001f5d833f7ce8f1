"""Issue 8 (gateway v2), item 6: what a provider answers is checked, not trusted: the content
type of a stream, its 4xx answers, its usage numbers, its events' size and its pace."""

import http.client
import json
import time

from .harness import E_BAD_GATEWAY, HOST, unique, wait_until
from .load_upstream import LEAKY_KEY_FRAGMENT
from .gateway_v2_cases import E_RATE_LIMITED, LOAD, WHOLE_CALL_MS, GatewayV2Case


class ProviderAnswerTests(GatewayV2Case):

    def test_a_stream_answered_with_json_is_502_and_recorded_failed(self):
        session = unique('s-json')
        stream = self.stream_chat(self.project.token, f'{LOAD}/json-stream', session=session)
        self.addCleanup(stream.close)
        self.assertError(stream.reply(), E_BAD_GATEWAY)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

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
        # tell the client the call was free. Unpriced: a provider that lists no models, and a
        # model listed without a price key.
        for provider in ('unpriced', 'listed'):
            with self.subTest(provider=provider):
                body = self.ok(self.chat(self.project.token, f'{provider}/fixed'))
                self.assertTrue(body['usage']['prompt_tokens'])
                for field in ('prompt_cost', 'completion_cost', 'total_cost', 'currency'):
                    self.assertNotIn(field, body['usage'])
                usage = self.streamed_usage(f'{provider}/stream-2x1')
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
