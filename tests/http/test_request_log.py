"""API.md section 4 (export item) and DESIGN.md RequestLog: every chat call leaves exactly one
record with every field of the export item; SIGTERM drains the queue; --log-content=false
stores no prompt, input or output."""

import calendar
import csv
import io
import json
import threading
import time
import uuid
from datetime import datetime

from ..pg import pg_cluster
from .fake_upstream import ECHO_USAGE, STREAM_TEXT, echo_text
from .harness import (E_ASSISTANT_NOT_FOUND, E_PROJECT_NOT_FOUND, EXPORT_FIELDS, PROVIDER,
                      RECORD_TIMEOUT_S, UUID4_RE, GatewayTestCase, expected_costs, unique)


def epoch_ms(timestamp):
    """'2026-11-27T19:33:00.123Z' → milliseconds since the epoch."""
    parsed = datetime.strptime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ')
    return calendar.timegm(parsed.timetuple()) * 1000 + parsed.microsecond // 1000


class RequestRecordTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.named = cls.make_token(cls.project.project_id, name=unique('rec-tok'))
        cls.prompt = 'You are the record-test assistant.'
        cls.bot = cls.make_assistant(cls.project.token, name=unique('rec-bot'),
                                     prompt=cls.prompt)

    def assertRecordShape(self, record):
        self.assertEqual(set(record), set(EXPORT_FIELDS),
                         f'fields differ from API.md section 4: {sorted(record)}')
        self.assertRegex(record['requestId'], UUID4_RE)
        for key in ('timestamp', 'startTimestamp', 'endTimestamp'):
            self.assertTimestamp(record[key], key)
        self.assertEqual(record['timestamp'], record['startTimestamp'])
        self.assertEqual(record['module'], 'chat')
        self.assertIsNone(record['feedback'])
        self.assertIsNone(record['ragSourcesConsulted'])
        start, end = epoch_ms(record['startTimestamp']), epoch_ms(record['endTimestamp'])
        self.assertGreaterEqual(end, start)
        self.assertIsInstance(record['elapsedTimeMs'], int)
        self.assertLessEqual(abs(record['elapsedTimeMs'] - (end - start)), 1,
                             'elapsedTimeMs must be endTimestamp - startTimestamp')

    def test_direct_call_record_holds_every_field(self):
        session = unique('direct')
        text = unique('input')
        before_ms = int(time.time() * 1000)
        messages = [{'role': 'user', 'content': 'an earlier question'},
                    {'role': 'assistant', 'content': 'an earlier answer'},
                    {'role': 'user', 'content': text}]
        body = self.ok(self.chat(self.named.token, f'{PROVIDER}/echo', messages=messages,
                                 session=session))
        after_ms = int(time.time() * 1000)
        record = self.wait_record(session, self.named.token)
        self.assertRecordShape(record)
        self.assertEqual(record['projectId'], self.project.project_id)
        self.assertEqual(record['apiToken'], self.named.token_name)
        self.assertEqual(record['apiTokenId'], self.named.token_id)
        # API.md section 4: a direct model call names the model as its assistant.
        self.assertEqual(record['assistant'], f'{PROVIDER}/echo')
        self.assertIsNone(record['intent'])
        self.assertEqual(record['sessionId'], session)
        self.assertEqual(record['model'], f'{PROVIDER}/echo')
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))
        self.assertEqual((record['promptTokens'], record['completionTokens'],
                          record['totalTokens']),
                         (ECHO_USAGE['prompt_tokens'], ECHO_USAGE['completion_tokens'],
                          ECHO_USAGE['total_tokens']))
        _p, _c, total = expected_costs(PROVIDER, 'echo', ECHO_USAGE['prompt_tokens'],
                                       ECHO_USAGE['completion_tokens'])
        self.assertCost(record['cost'], total)
        self.assertCost(record['cost'], body['usage']['total_cost'])
        self.assertIsNone(record['prompt'])
        self.assertEqual(record['inputText'], text)
        self.assertEqual(record['output'], echo_text(text))
        self.assertGreaterEqual(epoch_ms(record['startTimestamp']), before_ms - 1000)
        self.assertLessEqual(epoch_ms(record['endTimestamp']), after_ms + 1000)

    def test_export_items_are_never_null_where_the_reference_sdk_requires_a_value(self):
        marker = unique('no-session')
        self.ok(self.chat(self.named.token, f'{PROVIDER}/echo', text=marker))
        self.assertError(self.chat(self.named.token, 'saia:assistant:' + unique('missing')),
                         E_ASSISTANT_NOT_FOUND)
        required = ['apiToken', 'assistant', 'cost', 'elapsedTimeMs', 'startTimestamp',
                    'endTimestamp', 'timestamp', 'module', 'sessionId', 'status']
        items = self.wait_items(
            lambda i: i['inputText'] == marker or i['httpStatus'] == 404, 2, self.named.token)
        for item in items:
            for field in required:
                self.assertIsNotNone(item[field], f'{field} in {item!r}')
        direct = [i for i in items if i['inputText'] == marker][0]
        # Without saia-conversation-id a call is its own session.
        self.assertEqual(direct['sessionId'], direct['requestId'])
        self.assertEqual(direct['assistant'], f'{PROVIDER}/echo')

    def test_assistant_call_record_names_the_assistant_intent_and_prompt(self):
        session = unique('asst')
        text = unique('input')
        self.ok(self.chat(self.project.token, f'saia:assistant:{self.bot["assistantName"]}',
                          text=text, session=session))
        record = self.wait_record(session, self.project.token)
        self.assertRecordShape(record)
        self.assertEqual(record['assistant'], self.bot['assistantName'])
        self.assertEqual(record['intent'], 'default')
        self.assertEqual(record['model'], f'{PROVIDER}/echo')
        self.assertEqual(record['apiToken'], self.project.token_name)
        self.assertEqual(record['apiTokenId'], self.project.token_id)
        self.assertEqual(record['prompt'], self.prompt)
        self.assertEqual(record['inputText'], text)
        self.assertEqual(record['output'], echo_text(text))
        self.assertEqual((record['status'], record['httpStatus']), ('succeeded', 200))

    def test_failed_call_record_holds_every_field(self):
        session = unique('failed')
        text = unique('input')
        self.chat(self.project.token, f'{PROVIDER}/fail-500', text=text, session=session)
        record = self.wait_record(session, self.project.token)
        self.assertRecordShape(record)
        self.assertEqual((record['status'], record['httpStatus']), ('failed', 502))
        self.assertEqual(record['inputText'], text)

    def test_awkward_text_round_trips_in_every_export_format(self):
        session = unique('awkward')
        text = ('tab\there, back\\slash, "quoted", control \u0001\u001f, '
                'newline\nand unicode \u00e9\u4e16\U0001f600 </script>')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text, session=session))
        record = self.wait_record(session, self.project.token)
        self.assertEqual(record['inputText'], text)
        self.assertEqual(record['output'], echo_text(text))
        ndjson = self.export_raw(self.project.token, format='ndjson').body
        lines = [json.loads(line) for line in ndjson.split('\n') if line.strip()]
        [from_ndjson] = [i for i in lines if i['sessionId'] == session]
        self.assertEqual(from_ndjson, record)
        rows = list(csv.reader(io.StringIO(self.export_raw(self.project.token,
                                                            format='csv').body, newline='')))
        header = rows[0]
        [row] = [r for r in rows[1:] if r[header.index('sessionId')] == session]
        self.assertEqual(row[header.index('inputText')], text)
        self.assertEqual(row[header.index('output')], echo_text(text))

    def test_a_record_is_visible_in_the_export_within_2_seconds(self):
        session = unique('soon')
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', session=session))
        sent = time.monotonic()
        self.wait_items(lambda i: i.get('sessionId') == session, 1, self.project.token,
                        timeout_s=RECORD_TIMEOUT_S)
        self.assertLess(time.monotonic() - sent, 2.5)

    def test_each_call_produces_exactly_one_record(self):
        session = unique('many')
        calls = [f'{PROVIDER}/echo', f'{PROVIDER}/fail-500', f'{PROVIDER}/garbage',
                 f'saia:assistant:{self.bot["assistantName"]}', f'{PROVIDER}/echo']
        for model in calls:
            self.chat(self.project.token, model, session=session)
        stream = self.stream_chat(self.project.token, f'{PROVIDER}/stream', session=session)
        stream.read_all()
        stream.close()
        expected = len(calls) + 1
        self.wait_items(lambda i: i.get('sessionId') == session, expected, self.project.token)
        time.sleep(0.5)
        found = [i for i in self.export_items(self.project.token)
                 if i.get('sessionId') == session]
        self.assertEqual(len(found), expected, found)
        self.assertEqual(len({i['requestId'] for i in found}), expected)
        self.assertEqual(sorted(i['status'] for i in found),
                         sorted(['succeeded'] * 4 + ['failed'] * 2))

    def test_concurrent_calls_each_leave_exactly_one_record(self):
        session = unique('parallel')
        n = 24
        results = []

        def call(i):
            model = f'{PROVIDER}/echo' if i % 3 else f'{PROVIDER}/fail-500'
            results.append(self.chat(self.project.token, model, session=session,
                                     text=f'parallel {i}').status)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        self.assertEqual(sorted(results), sorted([200] * 16 + [502] * 8))
        self.wait_items(lambda i: i.get('sessionId') == session, n, self.project.token)
        time.sleep(0.5)
        found = [i for i in self.export_items(self.project.token)
                 if i.get('sessionId') == session]
        self.assertEqual(sorted(i['inputText'] for i in found),
                         sorted(f'parallel {i}' for i in range(n)))
        self.assertEqual(len({i['requestId'] for i in found}), n)

    def test_records_never_contain_a_secret(self):
        session = unique('nosecret')
        self.ok(self.chat(self.named.token, f'{PROVIDER}/echo', session=session))
        self.wait_record(session, self.named.token)
        for fmt in ('json', 'csv', 'ndjson'):
            raw = self.export_raw(self.org_token, format=fmt).body
            for secret in (self.named.token, self.project.token, self.org_token, self.api_key,
                           self.slow_api_key):
                self.assertNotIn(secret, raw, f'a secret in the {fmt} export')

    def test_a_revoked_tokens_records_keep_its_name(self):
        token = self.make_token(self.project.project_id, name=unique('doomed'))
        session = unique('revoked')
        self.ok(self.chat(token.token, f'{PROVIDER}/echo', session=session))
        self.wait_record(session, self.org_token)
        self.ok(self.request('DELETE', f'/v2/projects/tokens/{token.token_id}',
                             token=self.org_token))
        record = self.wait_record(session, self.org_token)
        self.assertEqual((record['apiToken'], record['apiTokenId']),
                         (token.token_name, token.token_id))

    def test_a_deleted_projects_records_stay_exportable_by_the_organization(self):
        gone = self.make_project()
        session = unique('gone')
        self.ok(self.chat(gone.token, f'{PROVIDER}/echo', session=session))
        self.wait_record(session, gone.token)
        self.ok(self.request('DELETE', f'/v1/organization/project/{gone.project_id}',
                             token=self.org_token))
        record = self.wait_record(session, self.org_token)
        self.assertEqual(record['projectId'], gone.project_id)
        # By its id too (projectId filter); an id the organization never had is still 404.
        items = self.export_items(self.org_token, projectId=gone.project_id)
        self.assertEqual([item['sessionId'] for item in items], [session])
        self.assertError(self.export(self.org_token, projectId=str(uuid.uuid4())),
                         E_PROJECT_NOT_FOUND)


class ShutdownDrainTests(GatewayTestCase):
    """SIGTERM drains the RequestLog queue: nothing acknowledged is lost on a clean stop."""

    server_per_test = True

    def test_sigterm_right_after_n_calls_then_restart_exports_all_n_records(self):
        project = self.make_project()
        session = unique('drain')
        n = 40
        for i in range(n):
            model = f'{PROVIDER}/echo' if i % 4 else f'{PROVIDER}/fail-500'
            self.chat(project.token, model, session=session, text=f'drain {i}')
        self.server.restart()  # SIGTERM at once, exit code 0 required, then serve again
        found = [i for i in self.export_items(project.token) if i.get('sessionId') == session]
        self.assertEqual(len(found), n, f'{n - len(found)} records lost over a clean stop')
        self.assertEqual(sorted(i['inputText'] for i in found),
                         sorted(f'drain {i}' for i in range(n)))


class LogContentFalseTests(GatewayTestCase):
    """`serve --log-content false`: prompt, inputText and output are stored and exported null."""

    serve_args = ('--log-content', 'false')

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.project = cls.make_project()
        cls.prompt = f'secret system prompt {unique("p")}'
        cls.bot = cls.make_assistant(cls.project.token, prompt=cls.prompt)

    def calls(self):
        """One assistant call, one direct call, one stream; returns (session, markers)."""
        session = unique('nolog')
        markers = [unique('private-a'), unique('private-b'), unique('private-c')]
        self.ok(self.chat(self.project.token, f'saia:assistant:{self.bot["assistantName"]}',
                          text=markers[0], session=session))
        self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=markers[1],
                          session=session))
        stream = self.stream_chat(self.project.token, f'{PROVIDER}/stream', text=markers[2],
                                  session=session)
        stream.read_all()
        stream.close()
        return session, markers

    def test_prompt_input_and_output_are_null_in_every_format(self):
        session, _markers = self.calls()
        items = self.wait_items(lambda i: i.get('sessionId') == session, 3, self.project.token)
        for item in items:
            self.assertEqual((item['prompt'], item['inputText'], item['output']),
                             (None, None, None), item)
        self.assertEqual(sorted(i['status'] for i in items), ['succeeded'] * 3)
        for fmt in ('csv', 'ndjson'):
            raw = self.export_raw(self.project.token, format=fmt).body
            self.assertNotIn(self.prompt, raw)
            self.assertNotIn(STREAM_TEXT, raw)

    def test_tokens_and_cost_are_still_recorded(self):
        session, _markers = self.calls()
        items = self.wait_items(lambda i: i.get('sessionId') == session, 3, self.project.token)
        for item in items:
            self.assertGreater(item['totalTokens'], 0)
            self.assertGreater(item['cost'], 0)
            self.assertEqual(item['sessionId'], session)

    def test_no_content_reaches_the_data_directory(self):
        session, markers = self.calls()
        self.wait_items(lambda i: i.get('sessionId') == session, 3, self.project.token)
        time.sleep(0.3)
        if self.server.on_postgres:
            # The records are in the database (all of it, as pg_dump gives it); the data
            # directory keeps the request journal.
            data = pg_cluster.dump(self.server.store_url)
            self.assertIn(session.encode(), data, 'the records are not in the dump')
            data += b''.join(p.read_bytes() for p in self.server.data_dir.rglob('*')
                             if p.is_file())
        else:
            data = b''.join(p.read_bytes() for p in self.server.data_dir.iterdir()
                            if p.is_file() and p.name.startswith('gatehouse.db'))
            self.assertTrue(data, 'no gatehouse.db* files in the data directory')
        for marker in markers:
            self.assertNotIn(marker.encode(), data, f'{marker} was stored')
        self.assertNotIn(STREAM_TEXT.encode(), data, 'the streamed output was stored')
        # the assistant prompt is stored with the assistant itself, so it is not checked here

    def test_the_chat_answer_itself_is_unchanged(self):
        text = unique('still-answered')
        body = self.ok(self.chat(self.project.token, f'{PROVIDER}/echo', text=text))
        self.assertEqual(body['choices'][0]['message']['content'], echo_text(text))


class LogContentFalseFromConfigTests(LogContentFalseTests):
    """The same rules with `[server] log_content = false` in the --config file (API.md 11)."""

    serve_args = ()

    @classmethod
    def server_config(cls):
        return '[server]\nlog_content = false\n\n' + super().server_config()
