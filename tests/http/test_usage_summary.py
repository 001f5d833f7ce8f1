"""API.md section 8, usage summary: GET /v2/usage/summary adds up the request records on the
server, keyed by id, and agrees with a brute-force sum over the export."""

import datetime
from collections import defaultdict
from urllib.parse import urlencode

from .harness import (E_SCOPE, E_PROJECT_NOT_FOUND, PROVIDER, GatewayTestCase,
                      e_pattern, unique)

TOTALS = ('requests', 'failed', 'promptTokens', 'completionTokens', 'elapsedMs', 'cost')
KEY_OF = {'project': lambda r: r['projectId'], 'token': lambda r: r['apiTokenId'],
          'assistant': lambda r: r['assistant'], 'model': lambda r: r['model'],
          'none': lambda r: None}
KEY_FIELD = {'project': 'projectId', 'token': 'apiTokenId', 'assistant': 'assistant',
             'model': 'model'}


class UsageSummaryTests(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Two projects whose default tokens are both called "Default", a second token, an
        # assistant, and a failing model: every dimension has more than one group.
        cls.alpha = cls.make_project()
        cls.beta = cls.make_project()
        cls.extra = cls.make_token(cls.alpha.project_id, name=unique('extra'))
        cls.bot = cls.make_assistant(cls.alpha.token)
        plan = [(cls.alpha.token, f'{PROVIDER}/echo', 3),
                (cls.beta.token, f'{PROVIDER}/echo', 2),
                (cls.extra.token, f'{PROVIDER}/echo', 1),
                (cls.alpha.token, f'saia:assistant:{cls.bot["assistantName"]}', 2),
                (cls.beta.token, f'{PROVIDER}/fail-500', 2)]
        cls.calls = 0
        for token, model, count in plan:
            for _ in range(count):
                cls.call_chat(token, model)
                cls.calls += 1

    def setUp(self):
        self.records = self.wait_items(lambda _: True, self.calls)

    def summary(self, token=None, **params):
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self.request('GET', '/v2/usage/summary' + (f'?{query}' if query else ''),
                            token=token or self.org_token)

    def brute_force(self, records, group_by):
        sums = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
        for record in records:
            total = sums[KEY_OF[group_by](record)]
            total['requests'] += 1
            total['failed'] += record['status'] == 'failed'
            total['promptTokens'] += record['promptTokens']
            total['completionTokens'] += record['completionTokens']
            total['elapsedMs'] += record['elapsedTimeMs'] or 0
            total['cost'] += record['cost']
        return sums

    def assertMatches(self, groups, expected, group_by):
        actual = {}
        for group in groups:
            key = group['key'].get(KEY_FIELD[group_by]) if group_by != 'none' else None
            actual[key] = group['totals']
        self.assertEqual(set(actual), set(expected), f'groups by {group_by}')
        for key, totals in expected.items():
            for field in TOTALS[:-1]:
                self.assertEqual(actual[key][field], totals[field], f'{group_by} {key} {field}')
            self.assertCost(actual[key]['cost'], totals['cost'], f'{group_by} {key} cost')

    def test_every_grouping_matches_a_brute_force_sum_over_the_export(self):
        for group_by in ('none', 'project', 'token', 'assistant', 'model'):
            with self.subTest(group_by=group_by):
                body = self.ok(self.summary(groupBy=group_by))
                self.assertMatches(body['groups'], self.brute_force(self.records, group_by),
                                   group_by)

    def test_two_projects_default_tokens_are_two_groups_with_their_own_numbers(self):
        groups = self.ok(self.summary(groupBy='token'))['groups']
        defaults = {g['key']['apiTokenId']: g for g in groups if g['key']['apiToken'] == 'Default'}
        self.assertEqual(set(defaults), {self.alpha.token_id, self.beta.token_id})
        # Each carries its project, so a chart can tell them apart.
        self.assertEqual({k: g['key']['projectName'] for k, g in defaults.items()},
                         {self.alpha.token_id: self.alpha.project_name,
                          self.beta.token_id: self.beta.project_name})
        self.assertEqual(defaults[self.alpha.token_id]['totals']['requests'], 5)
        self.assertEqual(defaults[self.beta.token_id]['totals']['requests'], 4)
        self.assertEqual(defaults[self.beta.token_id]['totals']['failed'], 2)

    def test_groups_carry_the_grouped_fields_only_and_come_most_requests_first(self):
        body = self.ok(self.summary(groupBy='project'))
        self.assertEqual([set(g['key']) for g in body['groups']],
                         [{'projectId', 'projectName'}] * 2)
        names = {g['key']['projectId']: g['key']['projectName'] for g in body['groups']}
        self.assertEqual(names, {self.alpha.project_id: self.alpha.project_name,
                                 self.beta.project_id: self.beta.project_name})
        requests = [g['totals']['requests'] for g in body['groups']]
        self.assertEqual(requests, sorted(requests, reverse=True))
        self.assertEqual(self.ok(self.summary())['groups'][0]['key'], {})

    def test_filters_select_the_same_records_as_the_export(self):
        cases = [({'projectId': self.beta.project_id}, lambda r: r['projectId'] ==
                  self.beta.project_id),
                 ({'apiTokenId': self.extra.token_id}, lambda r: r['apiTokenId'] ==
                  self.extra.token_id),
                 ({'assistant': self.bot['assistantName']}, lambda r: r['assistant'] ==
                  self.bot['assistantName']),
                 ({'model': f'{PROVIDER}/fail-500'}, lambda r: r['model'] ==
                  f'{PROVIDER}/fail-500')]
        for params, keep in cases:
            with self.subTest(params=params):
                body = self.ok(self.summary(groupBy='token', **params))
                expected = self.brute_force([r for r in self.records if keep(r)], 'token')
                self.assertMatches(body['groups'], expected, 'token')

    def test_hour_and_day_series_add_up_to_the_totals_at_bucket_starts(self):
        for interval, zone, minute_second in (('hour', None, '00:00'), ('day', None, '00:00'),
                                              ('day', 'Asia/Kolkata', '30:00'),
                                              ('day', 'America/Sao_Paulo', '00:00')):
            with self.subTest(interval=interval, zone=zone):
                body = self.ok(self.summary(groupBy='project', interval=interval,
                                            timeZone=zone))
                for group in body['groups']:
                    self.assertGreaterEqual(len(group['series']), 1)
                    for field in ('requests', 'failed', 'promptTokens'):
                        self.assertEqual(sum(p[field] for p in group['series']),
                                         group['totals'][field])
                    for point in group['series']:
                        start = datetime.datetime.fromisoformat(
                            point['start'].replace('Z', '+00:00'))
                        self.assertEqual(start.strftime('%M:%S'), minute_second
                                         if interval == 'day' else '00:00', point['start'])
                        if interval == 'day' and zone is None:
                            self.assertEqual(start.hour, 0)

    def test_a_range_that_ends_before_the_calls_is_empty(self):
        body = self.ok(self.summary(startDate='2020-01-01', endDate='2020-01-31'))
        self.assertEqual(body['groups'], [])
        self.assertEqual(body['startDate'][:10], '2020-01-01')
        self.assertEqual(body['endDate'][:10], '2020-01-31')

    def test_a_project_token_sees_only_its_own_project(self):
        body = self.ok(self.summary(token=self.beta.token, groupBy='project'))
        self.assertEqual([g['key']['projectId'] for g in body['groups']], [self.beta.project_id])
        self.assertError(self.summary(token=self.beta.token, projectId=self.alpha.project_id),
                         E_SCOPE)

    def test_another_organizations_project_is_404_id_2005(self):
        self.assertError(self.summary(projectId='3f0c2a9e-5b1d-4c8e-9a7f-1e2d3c4b5a69'),
                         E_PROJECT_NOT_FOUND)

    def test_malformed_parameters_are_400_id_11_naming_the_parameter(self):
        for params, field in (({'groupBy': 'colour'}, 'groupBy'),
                              ({'interval': 'week'}, 'interval'),
                              ({'timeZone': '../../etc/passwd'}, 'timeZone'),
                              ({'timeZone': 'Mars/Olympus_Mons'}, 'timeZone'),
                              ({'startDate': 'yesterday'}, 'startDate'),
                              ({'startDate': '2026-02-01', 'endDate': '2026-01-01'}, 'endDate'),
                              ({'interval': 'hour', 'startDate': '2025-01-01',
                                'endDate': '2025-12-31'}, 'interval'),
                              ({'projectId': 'not-a-uuid'}, 'projectId'),
                              ({'apiTokenId': 'x'}, 'apiTokenId')):
            with self.subTest(params=params):
                self.assertError(self.summary(**params), e_pattern(field))
