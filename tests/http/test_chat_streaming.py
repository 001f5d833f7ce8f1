"""API.md section 8: "stream": true relays the provider's server-sent events as they arrive,
ending with data: [DONE], and every streamed call leaves exactly one record."""

import json
import re
import time

from .fake_upstream import (CUT_STREAM_PIECE, STREAM_DELAY_S, STREAM_PIECES, STREAM_TEXT,
                            STREAM_USAGE)
from .harness import (CHAT_PATHS, E_BAD_GATEWAY, E_PROVIDER_TIMEOUT, E_SCOPE, PROVIDER,
                      SLOW_PROVIDER, GatewayTestCase, expected_costs, unique)

STREAM_S = STREAM_DELAY_S * len(STREAM_PIECES)   # the upstream's stream lasts at least this


def content_of(events):
    """The concatenated delta contents of the JSON events."""
    text = ''
    for _at, data in events:
        if data == '[DONE]':
            continue
        chunk = json.loads(data)
        for choice in chunk.get('choices') or []:
            text += (choice.get('delta') or {}).get('content') or ''
    return text


def standard_events(raw):
    """The events of a server-sent event stream read as the standard reads them: lines end with
    CRLF, LF or CR; an event's fields (data lines joined by LF) end at a blank line. A list of
    {field: value} dicts, comments dropped."""
    events, event = [], {}
    for line in re.split(r'\r\n|\r|\n', raw):
        if not line:
            if event:
                events.append(event)
            event = {}
        elif not line.startswith(':'):
            name, _, value = line.partition(':')
            value = value[1:] if value.startswith(' ') else value
            event[name] = event[name] + '\n' + value if name == 'data' and name in event else value
    return events


class StreamingTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.prompt = 'You stream, politely.'
        cls.bot = cls.make_assistant(cls.project.token, name=unique('stream-bot'),
                                     prompt=cls.prompt, model='stream', temperature=0.5,
                                     max_tokens=64)

    def open(self, model, **kw):
        stream = self.stream_chat(self.project.token, model, **kw)
        self.addCleanup(stream.close)
        return stream

    def test_stream_is_text_event_stream_relaying_every_chunk_and_ending_with_done(self):
        for path in CHAT_PATHS:
            with self.subTest(path=path):
                stream = self.open(f'{PROVIDER}/stream', path=path)
                self.assertEqual(stream.status, 200)
                self.assertIn('text/event-stream', stream.headers.get('Content-Type', ''))
                events = stream.read_all()
                self.assertTrue(events, 'no data: events')
                self.assertEqual(events[-1][1], '[DONE]')
                self.assertEqual([d for _t, d in events].count('[DONE]'), 1)
                for _at, data in events[:-1]:
                    self.assertIsInstance(json.loads(data), dict)
                self.assertEqual(content_of(events), STREAM_TEXT)

    def test_first_chunk_reaches_the_client_before_the_upstream_finishes(self):
        text = unique('first')
        stream = self.open(f'{PROVIDER}/stream', text=text)
        self.assertEqual(stream.status, 200)
        events = stream.read_all()
        self.assertTrue(events, 'no data: events')
        first_at = events[0][0]
        [call] = self.upstream.wait_for(text)
        self.assertIn('last_chunk_at', call, 'the upstream did not finish its stream')
        self.assertLess(first_at, call['last_chunk_at'] - STREAM_S / 2,
                        'the first chunk was held back until the upstream had (nearly) '
                        f'finished: first chunk {first_at - stream.started_at:.3f} s after the '
                        f'request, upstream done {call["last_chunk_at"] - stream.started_at:.3f} s')

    def test_chunks_arrive_spread_out_as_the_upstream_sends_them(self):
        stream = self.open(f'{PROVIDER}/stream')
        events = stream.read_all()
        content_times = [at for at, data in events
                         if data != '[DONE]' and content_of([(at, data)])]
        self.assertGreaterEqual(len(content_times), 3, events)
        self.assertGreater(content_times[-1] - content_times[0],
                           STREAM_DELAY_S * (len(content_times) - 1) * 0.6,
                           'the chunks arrived in one burst (buffered by the gateway)')

    def test_the_usage_event_the_client_did_not_ask_for_is_not_relayed_but_is_recorded(self):
        # The gateway asks the provider for it to meter the call; OpenAI clients read
        # choices[0] of every event, and that event has no choices.
        session = unique('s-unasked')
        stream = self.open(f'{PROVIDER}/stream', session=session)
        events = stream.read_all()
        self.assertEqual(events[-1][1], '[DONE]')
        for _at, data in events[:-1]:
            self.assertTrue(json.loads(data)['choices'], f'an event without choices: {data}')
        self.assertEqual(content_of(events), STREAM_TEXT)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (STREAM_USAGE['prompt_tokens'], STREAM_USAGE['completion_tokens']))

    def test_stream_with_usage_is_recorded_with_the_upstreams_usage_and_cost(self):
        session = unique('s-usage')
        text = unique('q')
        stream = self.open(f'{PROVIDER}/stream', text=text, session=session,
                           extra={'stream_options': {'include_usage': True}})
        events = stream.read_all()
        self.assertEqual(events[-1][1], '[DONE]')
        usage_events = [json.loads(d)['usage'] for _t, d in events
                        if d != '[DONE]' and json.loads(d).get('usage')]
        self.assertEqual(len(usage_events), 1, 'the final chunk carries the usage')
        _p, _c, streamed_total = expected_costs(PROVIDER, 'stream', STREAM_USAGE['prompt_tokens'],
                                                STREAM_USAGE['completion_tokens'])
        self.assertCost(usage_events[0]['total_cost'], streamed_total)
        self.assertEqual(usage_events[0]['currency'], 'USD')
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertEqual(record['model'], f'{PROVIDER}/stream')
        self.assertEqual((record['promptTokens'], record['completionTokens'],
                          record['totalTokens']),
                         (STREAM_USAGE['prompt_tokens'], STREAM_USAGE['completion_tokens'],
                          STREAM_USAGE['total_tokens']))
        _p, _c, total = expected_costs(PROVIDER, 'stream', STREAM_USAGE['prompt_tokens'],
                                       STREAM_USAGE['completion_tokens'])
        self.assertCost(record['cost'], total)
        self.assertEqual(record['inputText'], text)
        self.assertEqual(record['output'], STREAM_TEXT)
        self.assertGreaterEqual(record['elapsedTimeMs'], int(STREAM_S * 1000 * 0.8),
                                'elapsedTimeMs must cover the whole stream')

    def test_stream_without_usage_is_recorded_with_estimated_tokens_and_a_nonzero_cost(self):
        session = unique('s-nousage')
        stream = self.open(f'{PROVIDER}/stream-no-usage', session=session,
                           text='Please tell me a rather long story about streams.')
        events = stream.read_all()
        self.assertEqual(events[-1][1], '[DONE]')
        self.assertEqual(content_of(events), STREAM_TEXT)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertGreater(record['promptTokens'], 0)
        self.assertGreater(record['completionTokens'], 0)
        self.assertEqual(record['totalTokens'],
                         record['promptTokens'] + record['completionTokens'])
        self.assertGreater(record['cost'], 0)
        _p, _c, total = expected_costs(PROVIDER, 'stream-no-usage', record['promptTokens'],
                                       record['completionTokens'])
        self.assertCost(record['cost'], total, 'cost must follow the estimated tokens')
        self.assertEqual(record['output'], STREAM_TEXT)

    def test_assistant_stream_sends_the_system_prompt_and_stream_true_upstream(self):
        text = unique('bot-stream')
        session = unique('s-bot')
        stream = self.open(f'saia:assistant:{self.bot["assistantName"]}', text=text,
                           session=session)
        events = stream.read_all()
        self.assertEqual(content_of(events), STREAM_TEXT)
        [call] = self.upstream.wait_for(text)
        sent = call['body']
        self.assertIs(sent.get('stream'), True)
        self.assertEqual(call['headers'].get('authorization'), f'Bearer {self.api_key}')
        self.assertEqual(sent['model'], 'stream')
        self.assertEqual(sent['messages'][0], {'role': 'system', 'content': self.prompt})
        self.assertEqual(sent['messages'][-1], {'role': 'user', 'content': text})
        self.assertEqual((sent.get('temperature'), sent.get('max_tokens')), (0.5, 64))
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['assistant'], record['intent'], record['prompt']),
                         (self.bot['assistantName'], 'default', self.prompt))

    def test_client_disconnect_mid_stream_is_recorded_once_as_failed_499(self):
        session = unique('s-gone')
        text = unique('gone')
        stream = self.open(f'{PROVIDER}/slow-stream', text=text, session=session)
        self.assertEqual(stream.status, 200)
        for _at, data in stream.events():
            if content_of([(_at, data)]):
                break
        stream.close()
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 499))
        self.assertEqual(record['model'], f'{PROVIDER}/slow-stream')
        self.assertEqual(record['inputText'], text)
        self.assertEqual(self.ok(self.request('GET', '/healthz')), {'status': 'ok'})

    def test_upstream_cut_mid_stream_ends_the_stream_and_is_recorded_failed_502(self):
        session = unique('s-cut')
        stream = self.open(f'{PROVIDER}/cut-stream', session=session)
        started = time.monotonic()
        events = stream.read_all()  # a chunked body cut short ends it too (stream.error)
        self.assertLess(time.monotonic() - started, 5.0, 'the client stream did not end')
        datas = [d for _t, d in events]
        if '[DONE]' in datas:  # then an error event must say that the stream failed
            before_done = datas[:datas.index('[DONE]')]
            self.assertTrue(any('"error"' in d for d in before_done),
                            f'a cut stream must not look complete: {datas}')
        if events:
            self.assertTrue(content_of(events).startswith(CUT_STREAM_PIECE.strip()[:4]))
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_a_stream_with_an_error_event_is_recorded_failed_502_and_gets_no_done(self):
        # The provider fails mid-answer with an error event and ends its body cleanly.
        session = unique('s-miderror')
        stream = self.open(f'{PROVIDER}/mid-error', session=session)
        self.assertEqual(stream.status, 200)
        datas = [d for _t, d in stream.read_all()]
        self.assertTrue(any('"error"' in d for d in datas), datas)
        self.assertNotIn('[DONE]', datas, 'a failed stream must not look complete')
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_events_are_read_as_the_sse_standard_reads_them_cr_crlf_fields_data_lines(self):
        # CR and CRLF line breaks, event: and id: lines, JSON over two data lines, and the
        # usage-only event named by an event: line, which a client that did not ask for usage
        # does not get; the call is metered from it all the same.
        session = unique('s-ssefields')
        stream = self.open(f'{PROVIDER}/sse-fields', session=session)
        self.assertEqual(stream.status, 200)
        raw = stream.response.read().decode()
        events = standard_events(raw)
        datas = [e['data'] for e in events if 'data' in e]
        self.assertEqual(datas[-1], '[DONE]')
        self.assertEqual(content_of([(0, d) for d in datas]), 'Hello')
        self.assertFalse([d for d in datas[:-1] if json.loads(d).get('usage')], datas)
        self.assertNotIn('event: usage', raw, 'the usage event goes whole, its name too')
        self.assertIn(': opening comment', raw)
        self.assertEqual([e.get('id') for e in events if 'data' in e][:2], ['1', '2'])
        record = self.wait_record(session, self.project.token, settle_s=0.5)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (STREAM_USAGE['prompt_tokens'], STREAM_USAGE['completion_tokens']))
        self.assertEqual(record['output'], 'Hello')
        # Asked for, the usage event comes with its costs and keeps its own lines.
        stream = self.open(f'{PROVIDER}/sse-fields',
                           extra={'stream_options': {'include_usage': True}})
        events = standard_events(stream.response.read().decode())
        usage_events = [e for e in events if e.get('event') == 'usage']
        self.assertEqual(len(usage_events), 1, events)
        self.assertEqual(usage_events[0]['id'], '3')
        usage = json.loads(usage_events[0]['data'])['usage']
        self.assertAlmostEqual(usage['total_cost'], expected_costs(
            PROVIDER, 'sse-fields', STREAM_USAGE['prompt_tokens'],
            STREAM_USAGE['completion_tokens'])[2])

    def test_an_error_event_never_relays_the_providers_key(self):
        # The provider's error event quotes the key the gateway sent it (API.md section 8:
        # "never logged"; the provider's message is kept, its key or a fragment of it is not).
        session = unique('s-quotedkey')
        stream = self.open(f'{PROVIDER}/quoted-key-error', session=session)
        raw = stream.response.read().decode()
        self.assertNotIn(self.api_key, raw)
        self.assertNotIn(self.api_key[:10], raw)
        errors = [json.loads(e['data'])['error'] for e in standard_events(raw)
                  if '"error"' in e.get('data', '')]
        self.assertEqual(len(errors), 1, raw)
        self.assertIn('Incorrect API key provided: [redacted]', errors[0]['message'])
        record = self.wait_record(session, self.project.token, settle_s=0.5)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_a_client_that_leaves_on_done_had_the_whole_answer_recorded_succeeded(self):
        # The provider's body ends HELD_AFTER_DONE_S after [DONE]; the client closes on [DONE].
        session = unique('s-leftondone')
        stream = self.open(f'{PROVIDER}/done-then-wait', session=session)
        datas = []
        for _at, data in stream.events():
            datas.append(data)
            if data == '[DONE]':
                break
        self.assertEqual(datas[-1], '[DONE]')
        stream.close()
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (STREAM_USAGE['prompt_tokens'], STREAM_USAGE['completion_tokens']))

    def test_nothing_a_provider_sends_after_done_is_metered(self):
        # The answer is whole at [DONE], and recorded there: a usage event after it still reaches
        # a client that asked for usage, as the provider sent it (no costs: nothing of it is
        # billed), and the record keeps the estimates it had at [DONE].
        session = unique('s-usageafterdone')
        stream = self.open(f'{PROVIDER}/usage-after-done', session=session,
                           extra={'stream_options': {'include_usage': True}})
        datas = [d for _t, d in stream.read_all()]
        self.assertIsNone(stream.error)
        self.assertEqual(len(datas), datas.index('[DONE]') + 2, [d[:80] for d in datas])
        self.assertEqual(json.loads(datas[-1])['usage'], STREAM_USAGE)
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertEqual(record['completionTokens'],
                         (len(''.join(STREAM_PIECES)) + 3) // 4, 'estimated, not reported')
        self.assertNotEqual(record['promptTokens'], STREAM_USAGE['prompt_tokens'])

    def test_an_oversized_event_after_done_ends_a_whole_stream(self):
        # An event over the gateway's 1 MiB bound is dropped and ends the stream; after [DONE]
        # the answer was whole, so no error event follows it and the call succeeded.
        session = unique('s-hugeafterdone')
        stream = self.open(f'{PROVIDER}/huge-after-done', session=session)
        datas = [d for _t, d in stream.read_all()]
        self.assertEqual(datas[-1], '[DONE]', [d[:80] for d in datas])
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertEqual((record['promptTokens'], record['completionTokens']),
                         (STREAM_USAGE['prompt_tokens'], STREAM_USAGE['completion_tokens']))

    def test_a_stream_its_providers_close_ended_before_done_is_not_taken_for_complete(self):
        # No chunks, no length: the close ends the body, as a provider dying mid-answer does.
        session = unique('s-closeended')
        stream = self.open(f'{PROVIDER}/close-ended', session=session)
        datas = [d for _t, d in stream.read_all()]
        self.assertNotIn('[DONE]', datas)
        self.assertIn('"code": 502', datas[-1].replace('":', '": '))
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))
        # With [DONE] before its close the same stream is whole.
        session = unique('s-closeendeddone')
        stream = self.open(f'{PROVIDER}/close-ended-done', session=session)
        self.assertEqual([d for _t, d in stream.read_all()][-1], '[DONE]')
        record = self.wait_record(session, self.project.token, settle_s=1.0)
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))

    def test_stream_request_to_a_failing_upstream_is_502_id_502(self):
        session = unique('s-500')
        stream = self.open(f'{PROVIDER}/fail-500', session=session)
        self.assertError(stream.reply(), E_BAD_GATEWAY)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))

    def test_stream_request_to_a_hanging_upstream_is_504_id_100(self):
        session = unique('s-hang')
        started = time.monotonic()
        stream = self.open(f'{SLOW_PROVIDER}/hang', session=session)
        reply = stream.reply()
        self.assertLess(time.monotonic() - started, 3.0)
        self.assertError(reply, E_PROVIDER_TIMEOUT)
        record = self.wait_record(session, self.project.token)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 504))

    def test_organization_token_cannot_stream_403_id_7(self):
        text = unique('org-stream')
        stream = self.stream_chat(self.org_token, f'{PROVIDER}/stream', text=text)
        self.addCleanup(stream.close)
        self.assertError(stream.reply(), E_SCOPE)
        self.assertEqual(self.upstream.requests_with(text), [])

    def test_stream_replies_never_contain_the_provider_key(self):
        stream = self.open(f'{PROVIDER}/stream')
        raw = ''.join(d for _t, d in stream.read_all()) + str(stream.headers)
        self.assertNoSecretIn(raw)
