"""API.md section 4: GET /v1/organization/request/export (formats, order, skip/count, filters,
scopes, errors) and `gatehouse export` on the CLI."""

import csv
import io
import json
import time
import uuid
from datetime import datetime, timedelta

from .harness import (E_NO_KEY, E_PROJECT_NOT_FOUND, E_SCOPE, EXPORT_FIELDS, PROVIDER,
                      GatewayTestCase, e_pattern, unique)

CONTENT_TYPES = {'json': 'application/json', 'csv': 'text/csv',
                 'ndjson': 'application/x-ndjson'}
TRICKY_PROMPT = 'Be terse, "very" terse.\nSecond line, with a comma; and "quotes".'
TRICKY_INPUT = 'hello, "world"\nsecond line\r\nthird, line'
UNICODE_INPUT = 'plain question \u2014 \u00fcn\u00efc\u00f8d\u00e9 \u4e16\u754c \U0001f44b'


def parse_csv(text):
    """(header, rows as dicts) of an RFC 4180 document."""
    rows = list(csv.reader(io.StringIO(text, newline='')))
    if not rows:
        return [], []
    header = rows[0]
    return header, [dict(zip(header, row)) for row in rows[1:]]


def parse_ndjson(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def newest_first_key(item):
    return (item['startTimestamp'], item['requestId'])


class ExportTestBase(GatewayTestCase):

    def assertCsvRowMatches(self, row, item, msg=None):
        """A CSV row holds the same values as a JSON item (null = empty field)."""
        self.assertEqual(set(row), set(EXPORT_FIELDS), msg)
        for field in EXPORT_FIELDS:
            value, cell = item[field], row[field]
            context = f'{msg or ""} field {field}: json {value!r} csv {cell!r}'
            if value is None:
                self.assertEqual(cell, '', context)
            elif isinstance(value, bool):
                self.assertEqual(cell.lower(), str(value).lower(), context)
            elif isinstance(value, (int, float)):
                self.assertAlmostEqual(float(cell), float(value),
                                       delta=max(1e-12, abs(value) * 1e-6), msg=context)
            else:
                self.assertEqual(cell, value, context)

    def assertSameExport(self, items, rows, msg=None):
        self.assertEqual(len(rows), len(items), msg)
        for row, item in zip(rows, items):
            self.assertCsvRowMatches(row, item, msg)


class ExportTests(ExportTestBase):
    """One fixed data set of 8 calls over two projects, three tokens and two assistants."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = cls.make_project(name=unique('exp-a'))
        cls.a2 = cls.make_token(cls.a.project_id, name=unique('exp-a-tok'))
        cls.b = cls.make_project(name=unique('exp-b'))
        cls.bot = cls.make_assistant(cls.a.token, name=unique('exp-bot'), prompt=TRICKY_PROMPT)
        cls.bot2 = cls.make_assistant(cls.a.token, name=unique('exp-bot2'), prompt='Plain.')
        bot = f'saia:assistant:{cls.bot["assistantName"]}'
        bot2 = f'saia:assistant:{cls.bot2["assistantName"]}'
        plan = [  # (token, model, text)
            (cls.a.token, f'{PROVIDER}/echo', TRICKY_INPUT),
            (cls.a.token, bot, UNICODE_INPUT),
            (cls.a2.token, bot, 'question, with comma'),
            (cls.a2.token, f'{PROVIDER}/fail-500', 'this one fails'),
            (cls.a.token, bot2, 'for bot two'),
            (cls.b.token, f'{PROVIDER}/echo', 'project b'),
            (cls.b.token, f'{PROVIDER}/fail-500', 'project b fails'),
            (cls.a.token, f'{PROVIDER}/echo', 'the newest "one"'),
        ]
        cls.sessions = []
        for index, (token, model, text) in enumerate(plan):
            session = f'exp-{index}-{uuid.uuid4().hex[:6]}'
            cls.sessions.append(session)
            cls.call_chat(token, model, text=text, session=session)
            time.sleep(0.01)  # distinct start timestamps, so the order is the call order
        deadline = time.monotonic() + 3.0
        items = []
        while time.monotonic() < deadline:
            response = cls.server.request('GET', '/v1/organization/request/export',
                                          token=cls.server.org_token)
            items = response.body.get('items', []) if isinstance(response.body, dict) else []
            if len(items) >= len(plan):
                break
            time.sleep(0.1)
        cls.setup_count = len(items)

    def setUp(self):
        super().setUp()
        self.assertEqual(self.setup_count, 8, 'the 8 records of the data set did not all reach '
                                              'the export within 3 s')

    def all_items(self, token=None, **params):
        return self.export_items(token or self.org_token, **params)

    def sessions_of(self, items):
        return [i['sessionId'] for i in items]

    # --- shape and formats -----------------------------------------------------------------
    def test_json_items_have_exactly_the_documented_fields(self):
        for item in self.all_items():
            self.assertEqual(set(item), set(EXPORT_FIELDS), item)

    def test_order_is_newest_first(self):
        items = self.all_items()
        self.assertEqual(self.sessions_of(items), list(reversed(self.sessions)))
        self.assertEqual(items, sorted(items, key=newest_first_key, reverse=True))

    def test_content_types_and_chunked_transfer_encoding(self):
        for fmt, content_type in CONTENT_TYPES.items():
            with self.subTest(format=fmt):
                response = self.export_raw(self.org_token, format=fmt)
                self.assertEqual(response.status, 200, response.body[:300])
                self.assertIn(content_type, response.headers.get('Content-Type', ''))
                self.assertEqual(response.headers.get('Transfer-Encoding', '').lower(), 'chunked',
                                 'exports must be streamed with chunked encoding')
        response = self.export_raw(self.org_token)
        self.assertIn('application/json', response.headers.get('Content-Type', ''),
                      'json is the default format')
        response = self.export_raw(self.org_token, format='CSV')
        self.assertEqual(response.status, 200, 'enum values are case-insensitive')
        self.assertIn('text/csv', response.headers.get('Content-Type', ''))

    def test_json_csv_and_ndjson_hold_the_same_items(self):
        items = self.all_items()
        self.assertEqual(json.loads(self.export_raw(self.org_token, format='json').body),
                         {'items': items})
        self.assertEqual(parse_ndjson(self.export_raw(self.org_token, format='ndjson').body),
                         items)
        header, rows = parse_csv(self.export_raw(self.org_token, format='csv').body)
        self.assertEqual(header, EXPORT_FIELDS)
        self.assertSameExport(items, rows)

    def test_csv_header_is_the_item_field_names_in_order(self):
        text = self.export_raw(self.org_token, format='csv').body
        first_line = text.split('\n', 1)[0].rstrip('\r')
        self.assertEqual(first_line, ','.join(EXPORT_FIELDS))

    def test_csv_quotes_commas_quotes_and_newlines(self):
        text = self.export_raw(self.org_token, format='csv').body
        quoted_prompt = '"' + TRICKY_PROMPT.replace('"', '""') + '"'
        quoted_input = '"' + TRICKY_INPUT.replace('"', '""') + '"'
        self.assertIn(quoted_prompt, text, 'the prompt is not RFC 4180 quoted')
        self.assertIn(quoted_input, text, 'the input text is not RFC 4180 quoted')
        _header, rows = parse_csv(text)
        by_session = {r['sessionId']: r for r in rows}
        tricky = by_session[self.sessions[0]]
        self.assertEqual(tricky['inputText'], TRICKY_INPUT)
        self.assertEqual(tricky['output'], f'echo: {TRICKY_INPUT}')
        self.assertEqual(tricky['assistant'], f'{PROVIDER}/echo')  # a direct call: its model
        self.assertEqual(by_session[self.sessions[1]]['prompt'], TRICKY_PROMPT)
        self.assertEqual(by_session[self.sessions[1]]['inputText'], UNICODE_INPUT)
        self.assertEqual(by_session[self.sessions[7]]['inputText'], 'the newest "one"')
        self.assertEqual(len(rows), 8)

    def test_csv_nulls_are_empty_fields(self):
        _header, rows = parse_csv(self.export_raw(self.org_token, format='csv').body)
        for row in rows:
            self.assertEqual((row['feedback'], row['ragSourcesConsulted']), ('', ''))
        self.assertNotIn('null', self.export_raw(self.org_token, format='csv').body.lower())

    def test_an_empty_export_is_an_empty_list_a_lone_csv_header_or_no_ndjson_line(self):
        empty = self.make_project()
        self.assertEqual(json.loads(self.export_raw(empty.token).body), {'items': []})
        header, rows = parse_csv(self.export_raw(empty.token, format='csv').body)
        self.assertEqual((header, rows), (EXPORT_FIELDS, []))
        self.assertEqual(self.export_raw(empty.token, format='ndjson').body.strip(), '')

    def test_ndjson_is_one_object_per_line(self):
        text = self.export_raw(self.org_token, format='ndjson').body
        lines = [line for line in text.split('\n') if line.strip()]
        self.assertEqual(len(lines), 8)
        for line in lines:
            self.assertIsInstance(json.loads(line), dict)

    def test_formats_agree_under_filters_and_paging(self):
        params = {'assistantName': self.bot['assistantName'], 'skip': 0, 'count': 1}
        items = self.all_items(**params)
        self.assertEqual(len(items), 1)
        self.assertEqual(parse_ndjson(self.export_raw(self.org_token, format='ndjson',
                                                      **params).body), items)
        _h, rows = parse_csv(self.export_raw(self.org_token, format='csv', **params).body)
        self.assertSameExport(items, rows)

    # --- paging ----------------------------------------------------------------------------
    def test_skip_and_count_pages_concatenate_to_the_full_list(self):
        full = self.all_items()
        for size in (1, 3, 5):
            with self.subTest(count=size):
                paged = []
                for skip in range(0, len(full) + size, size):
                    paged += self.all_items(skip=skip, count=size)
                self.assertEqual(paged, full)

    def test_count_0_or_absent_means_no_limit(self):
        self.assertEqual(len(self.all_items(count=0)), 8)
        self.assertEqual(self.all_items(count=0), self.all_items())

    def test_skip_past_the_end_is_empty(self):
        self.assertEqual(self.all_items(skip=8), [])
        self.assertEqual(self.all_items(skip=1000, count=5), [])

    def test_csv_paging_matches_json_paging(self):
        for skip in (0, 2, 7):
            with self.subTest(skip=skip):
                items = self.all_items(skip=skip, count=2)
                _h, rows = parse_csv(self.export_raw(self.org_token, format='csv', skip=skip,
                                                     count=2).body)
                self.assertSameExport(items, rows)

    # --- filters ---------------------------------------------------------------------------
    def test_filter_by_assistant_name(self):
        items = self.all_items(assistantName=self.bot['assistantName'])
        self.assertEqual(self.sessions_of(items), [self.sessions[2], self.sessions[1]])
        items = self.all_items(assistantName=self.bot2['assistantName'])
        self.assertEqual(self.sessions_of(items), [self.sessions[4]])
        self.assertEqual(self.all_items(assistantName=unique('nobody')), [])

    def test_filter_by_status(self):
        failed = self.all_items(status='failed')
        self.assertEqual(self.sessions_of(failed), [self.sessions[6], self.sessions[3]])
        succeeded = self.all_items(status='succeeded')
        self.assertEqual(len(succeeded), 6)
        self.assertTrue(all(i['status'] == 'succeeded' for i in succeeded))
        self.assertEqual(self.all_items(status='FAILED'), failed,
                         'enum values are case-insensitive')
        self.assertEqual(self.all_items(status='pending'), [])

    def test_filter_by_api_token_name_or_id(self):
        by_name = self.all_items(apiToken=self.a2.token_name)
        self.assertEqual(self.sessions_of(by_name), [self.sessions[3], self.sessions[2]])
        self.assertEqual(self.all_items(apiToken=self.a2.token_id), by_name)
        by_id = self.all_items(apiToken=self.b.token_id)
        self.assertEqual(self.sessions_of(by_id), [self.sessions[6], self.sessions[5]])

    def test_filters_combine(self):
        items = self.all_items(projectId=self.a.project_id, status='succeeded',
                               apiToken=self.a.token_name)
        self.assertEqual(self.sessions_of(items),
                         [self.sessions[7], self.sessions[4], self.sessions[1], self.sessions[0]])

    def test_query_parameter_names_are_case_insensitive(self):
        expected = self.all_items(assistantName=self.bot['assistantName'])
        for name in ('AssistantName', 'assistantname', 'ASSISTANTNAME'):
            with self.subTest(name=name):
                self.assertEqual(self.all_items(**{name: self.bot['assistantName']}), expected)

    def test_date_range_is_inclusive(self):
        items = self.all_items()
        middle = items[3]
        start = middle['startTimestamp']
        from_middle = self.all_items(startDate=start)
        self.assertEqual(from_middle, [i for i in items if i['startTimestamp'] >= start])
        self.assertIn(middle, from_middle)
        until_middle = self.all_items(endDate=start)
        self.assertEqual(until_middle, [i for i in items if i['startTimestamp'] <= start])
        self.assertIn(middle, until_middle)
        self.assertEqual(self.all_items(startDate=start, endDate=start), [middle])

    def test_plain_dates_cover_whole_days(self):
        today = self.all_items()[0]['startTimestamp'][:10]  # the UTC day of the records
        self.assertEqual(len(self.all_items(startDate=today, endDate=today)), 8)
        yesterday = (datetime.strptime(today, '%Y-%m-%d') - timedelta(days=1)).strftime(
            '%Y-%m-%d')
        tomorrow = (datetime.strptime(today, '%Y-%m-%d') + timedelta(days=1)).strftime(
            '%Y-%m-%d')
        self.assertEqual(self.all_items(endDate=yesterday), [])
        self.assertEqual(self.all_items(startDate=tomorrow), [])
        self.assertEqual(len(self.all_items(startDate=yesterday, endDate=tomorrow)), 8)

    def test_timestamp_without_zone_is_taken_as_utc(self):
        items = self.all_items()
        start = items[3]['startTimestamp']
        self.assertEqual(self.all_items(startDate=start.rstrip('Z'), endDate=start.rstrip('Z')),
                         [items[3]])

    # --- scopes ----------------------------------------------------------------------------
    def test_organization_token_sees_every_project_and_project_id_narrows(self):
        self.assertEqual(len(self.all_items()), 8)
        only_b = self.all_items(projectId=self.b.project_id)
        self.assertEqual(self.sessions_of(only_b), [self.sessions[6], self.sessions[5]])
        self.assertTrue(all(i['projectId'] == self.b.project_id for i in only_b))

    def test_project_token_sees_only_its_own_project(self):
        for token in (self.a.token, self.a2.token):
            items = self.all_items(token)
            self.assertEqual(len(items), 6)
            self.assertTrue(all(i['projectId'] == self.a.project_id for i in items))
        self.assertEqual(self.sessions_of(self.all_items(self.b.token)),
                         [self.sessions[6], self.sessions[5]])

    def test_project_token_cannot_export_another_project(self):
        response = self.export(self.a.token, projectId=self.b.project_id)
        if response.status == 200:
            leaked = [i for i in response.body['items'] if i['projectId'] != self.a.project_id]
            self.assertEqual(leaked, [], 'a project token exported another project')
        else:
            self.assertError(response, E_SCOPE)

    def test_another_organization_sees_none_of_these_records(self):
        org = self.create_organization()
        token = org['apiToken']['secret']
        self.assertEqual(self.all_items(token), [])

    def test_export_without_credentials_is_401_id_5(self):
        self.assertError(self.request('GET', '/v1/organization/request/export'), E_NO_KEY)

    # --- errors ----------------------------------------------------------------------------
    def test_bad_format_is_400_id_11(self):
        for value in ('xml', 'csvx', 'json5'):
            with self.subTest(format=value):
                self.assertError(self.export(format=value), e_pattern('format'))

    def test_bad_date_is_400_id_11(self):
        for field, value in (('startDate', 'not-a-date'), ('endDate', '2026-13-45'),
                             ('startDate', '2026-02-30'), ('endDate', 'yesterday')):
            with self.subTest(field=field, value=value):
                self.assertError(self.export(**{field: value}), e_pattern(field))

    def test_bad_status_is_400_id_11(self):
        self.assertError(self.export(status='done'), e_pattern('status'))

    def test_malformed_project_id_is_400_id_11_or_404_id_2005(self):
        self.assertOneOfErrors(self.export(projectId='not-a-uuid'),
                               [e_pattern('projectId'), E_PROJECT_NOT_FOUND])

    # --- CLI -------------------------------------------------------------------------------
    def cli_export(self, *args):
        done = self.server.cli_run('export', *args, json_out=False)
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors='replace'))
        return done.stdout.decode('utf-8')

    def test_cli_export_csv_matches_the_http_export_while_the_server_runs(self):
        items = self.all_items()
        header, rows = parse_csv(self.cli_export('--format', 'csv'))
        self.assertEqual(header, EXPORT_FIELDS)
        self.assertSameExport(items, rows)

    def test_cli_export_json_and_ndjson_match_the_http_export(self):
        items = self.all_items()
        self.assertEqual(json.loads(self.cli_export('--format', 'json')), {'items': items})
        self.assertEqual(parse_ndjson(self.cli_export('--format', 'ndjson')), items)

    def test_cli_export_filters_by_project_name_or_id(self):
        expected = self.all_items(projectId=self.b.project_id)
        for value in (self.b.project_name, self.b.project_id):
            with self.subTest(project=value):
                self.assertEqual(parse_ndjson(self.cli_export('--format', 'ndjson', '--project',
                                                              value)), expected)

    def test_cli_export_filters_by_organization_name_or_id(self):
        items = self.all_items()
        for value in ('Default', self.org_id):
            with self.subTest(org=value):
                self.assertEqual(parse_ndjson(self.cli_export('--format', 'ndjson', '--org',
                                                              value)), items)
        other = self.create_organization()
        self.assertEqual(parse_ndjson(self.cli_export('--format', 'ndjson', '--org',
                                                      other['organizationId'])), [])


class CliExportAfterStopTests(ExportTestBase):
    """`gatehouse export` on a stopped server's data directory prints every record."""

    server_per_test = True

    def test_cli_export_after_sigterm_prints_every_record(self):
        project = self.make_project()
        session = unique('cli-stop')
        for i in range(5):
            self.chat(project.token, f'{PROVIDER}/echo', session=session, text=f'q{i}, "x"')
        self.wait_items(lambda i: i.get('sessionId') == session, 5, project.token)
        items = self.export_items(self.org_token)
        self.assertEqual(self.server.stop(), 0)
        done = self.server.cli_run('export', '--format', 'csv', json_out=False)
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors='replace'))
        header, rows = parse_csv(done.stdout.decode('utf-8'))
        self.assertEqual(header, EXPORT_FIELDS)
        self.assertSameExport(items, rows)
        done = self.server.cli_run('export', '--format', 'json', '--project',
                                   project.project_name, json_out=False)
        self.assertEqual(done.returncode, 0, done.stderr.decode(errors='replace'))
        self.assertEqual(json.loads(done.stdout), {'items': items})
