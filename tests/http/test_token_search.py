"""API.md section 6: the console's token search, GET /v2/tokens.

The class builds one fixed set of tokens in a fresh installation. Every name, description and
project name is lower-case ASCII, so byte order and case-insensitive order agree.
"""

import math
import time

from .harness import GatehouseTestCase, PROPAGATION_TIMEOUT_S, e_pattern, e_range, wait_until

# (name, description, owner, final status) in creation order; owner None = organization.
FIXTURE = [
    ('srch-delta', 'desc-c', 'alpha', 'Active'),
    ('srch-apple', 'desc-e', 'alpha', 'Blocked'),
    ('srch-mango', 'desc-a', 'alpha', 'Revoked'),
    ('srch-cherry', 'desc-b', 'beta', 'Active'),
    ('srch-banana', 'desc-d', 'beta', 'Active'),
    ('srch-kiwi', 'desc-f', None, 'Active'),
    ('srch-fig', 'desc-g', None, 'Blocked'),
]
PROJECTS = {'alpha': 'srch-alpha-proj', 'beta': 'srch-beta-proj'}


class TokenSearchTests(GatehouseTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv, org = cls.server, cls.server.org_token
        cls.projects = {}
        for key, name in PROJECTS.items():
            cls.projects[key] = srv.request('POST', '/v1/organization/project',
                                            body={'name': name}, token=org).body
        cls.tokens = {}
        for name, description, owner, status in FIXTURE:
            time.sleep(0.02)  # distinct creation timestamps (millisecond resolution)
            body = {'name': name, 'description': description,
                    'status': 'blocked' if status == 'Blocked' else 'active'}
            if owner is None:
                reply = srv.request('POST', '/v2/organization/tokens', body=body, token=org)
            else:
                reply = srv.request('POST', '/v2/projects/tokens', body=body, token=org,
                                    headers={'project-id': cls.projects[owner]['projectId']})
            assert reply.status == 200, reply
            cls.tokens[name] = reply.body
            if status == 'Revoked':
                kind = 'organization' if owner is None else 'projects'
                gone = srv.request('DELETE', f'/v2/{kind}/tokens/{reply.body["id"]}', token=org)
                assert gone.status == 200, gone

    def search(self, query):
        body = self.ok(self.get(f'/v2/tokens?{query}'))
        for key in ('count', 'pages', 'startPage', 'pageSize', 'tokens'):
            self.assertIn(key, body)
        return body

    def names(self, query):
        return [t['name'] for t in self.search(query)['tokens']]

    def expected(self, statuses=('Active', 'Blocked'), scope='all'):
        chosen = []
        for name, _desc, owner, status in FIXTURE:
            if status not in statuses:
                continue
            if scope == 'organization' and owner is not None:
                continue
            if scope == 'project' and owner is None:
                continue
            chosen.append(name)
        return chosen

    def test_default_search_lists_active_and_blocked_tokens_of_both_scopes(self):
        body = self.search('')
        names = {t['name'] for t in body['tokens']}
        # Two projects' Default tokens and the installation's DefaultOrganization token too.
        self.assertEqual(names, set(self.expected()) | {'Default', 'DefaultOrganization'})
        self.assertEqual(body['count'], len(self.expected()) + 3)
        self.assertEqual((body['startPage'], body['pageSize'], body['pages']), (1, 20, 1))

    def test_result_items_are_token_objects_without_secrets(self):
        for token in self.search('name=srch')['tokens']:
            self.assertNotIn('secret', token)
            self.assertUuid4(token['id'])
            self.assertTimestamp(token['timestamp'])
            self.assertEqual(token['secretPrefix'], self.tokens[token['name']]['secret'][:8])
            if token['scope'] == 'Project':
                self.assertIn(token['projectName'], PROJECTS.values())
            else:
                self.assertEqual(token['scope'], 'Organization')
                self.assertNotIn('projectId', token)

    def test_scope_filter(self):
        for query, scope in (('scope=all', 'all'), ('scope=organization', 'organization'),
                             ('scope=project', 'project'), ('SCOPE=Project', 'project'),
                             ('Scope=ORGANIZATION', 'organization')):
            with self.subTest(query=query):
                self.assertEqual(set(self.names(f'name=srch&{query}')),
                                 set(self.expected(scope=scope)))
        for token in self.search('scope=project')['tokens']:
            self.assertEqual(token['scope'], 'Project')
        for token in self.search('scope=organization')['tokens']:
            self.assertEqual(token['scope'], 'Organization')

    def test_name_filter_is_contains_and_case_insensitive(self):
        self.assertEqual(self.names('name=APPLE'), ['srch-apple'])
        self.assertEqual(self.names('name=pPl'), ['srch-apple'])
        self.assertEqual(self.names('name=NaN'), ['srch-banana'])
        self.assertEqual(self.names('NAME=ang&status=revoked'), ['srch-mango'])
        self.assertEqual(self.names('name=ang'), [])
        self.assertEqual(self.names('name=nothing-like-this'), [])

    def test_project_name_filter_is_contains_and_case_insensitive(self):
        self.assertEqual(set(self.names('projectName=ALPHA')),
                         {'Default', 'srch-delta', 'srch-apple'})
        self.assertEqual(set(self.names('projectname=beta-PROJ')),
                         {'Default', 'srch-cherry', 'srch-banana'})
        self.assertEqual(set(self.names('projectName=proj')),
                         {'Default', 'srch-delta', 'srch-apple', 'srch-cherry', 'srch-banana'})
        self.assertEqual(self.search('projectName=proj')['count'], 6)

    def test_project_id_filter_lists_exactly_that_projects_tokens(self):
        alpha = self.projects['alpha']['projectId']
        body = self.search(f'projectId={alpha}')
        self.assertEqual({t['name'] for t in body['tokens']}, {'Default', 'srch-delta', 'srch-apple'})
        self.assertEqual(body['count'], 3)
        self.assertTrue(all(t['projectId'] == alpha for t in body['tokens']))
        self.assertEqual(self.names(f'projectId={alpha}&status=revoked'), ['srch-mango'])
        self.assertEqual(self.names(f'projectId={alpha}&name=APP'), ['srch-apple'])
        self.assertEqual(self.names(f'projectId={alpha}&orderKey=name&orderDirection=desc'),
                         ['srch-delta', 'srch-apple', 'Default'])
        paged = self.search(f'projectId={alpha}&pageSize=2&startPage=2')
        self.assertEqual((paged['count'], paged['pages'], len(paged['tokens'])), (3, 2, 1))
        # An unknown project (or another organization's) matches nothing: no 404 to probe with.
        nothing = self.search('projectId=00000000-0000-4000-8000-000000000000')
        self.assertEqual((nothing['count'], nothing['tokens']), (0, []))
        self.assertEqual(self.names(f'projectId={alpha}&scope=organization'), [])

    def test_status_filter(self):
        for query, statuses in (('status=all', ('Active', 'Blocked')),
                                ('status=active', ('Active',)),
                                ('status=blocked', ('Blocked',)),
                                ('status=revoked', ('Revoked',)),
                                ('STATUS=Blocked', ('Blocked',)),
                                ('status=REVOKED', ('Revoked',))):
            with self.subTest(query=query):
                body = self.search(f'name=srch&{query}')
                self.assertEqual({t['name'] for t in body['tokens']},
                                 set(self.expected(statuses)))
                self.assertEqual({t['status'] for t in body['tokens']}, set(statuses))

    def assertOrder(self, query, expected):
        for direction, want in (('asc', expected), ('desc', list(reversed(expected)))):
            with self.subTest(query=query, direction=direction):
                self.assertEqual(self.names(f'{query}&orderDirection={direction}'), want)

    def test_order_by_name_asc_and_desc(self):
        expected = sorted(self.expected())
        self.assertEqual(self.names('name=srch'), expected)  # default: name asc
        self.assertOrder('name=srch&orderKey=name', expected)
        self.assertEqual(self.names('name=srch&ORDERKEY=name&OrderDirection=DESC'),
                         list(reversed(expected)))

    def test_order_by_description_asc_and_desc(self):
        by_desc = sorted((d, n) for n, d, _o, s in FIXTURE if s != 'Revoked')
        self.assertOrder('name=srch&orderKey=description', [n for _d, n in by_desc])

    def test_order_by_timestamp_asc_and_desc(self):
        self.assertOrder('name=srch&orderKey=timestamp', self.expected())

    def test_order_by_status_asc_and_desc(self):
        for direction, first in (('asc', 'Active'), ('desc', 'Blocked')):
            with self.subTest(direction=direction):
                tokens = self.search(f'name=srch&orderKey=status&orderDirection={direction}')
                statuses = [t['status'] for t in tokens['tokens']]
                self.assertEqual(len(statuses), len(self.expected()))
                self.assertEqual(statuses[0], first)
                self.assertEqual(statuses, sorted(statuses, reverse=direction == 'desc'))

    def test_order_by_project_name_asc_and_desc(self):
        for direction in ('asc', 'desc'):
            with self.subTest(direction=direction):
                tokens = self.search(f'name=srch&scope=project&orderKey=projectName'
                                     f'&orderDirection={direction}')['tokens']
                projects = [t['projectName'] for t in tokens]
                self.assertEqual(len(projects), 4)
                self.assertEqual(projects, sorted(projects, reverse=direction == 'desc'))
                self.assertEqual(projects[0], PROJECTS['alpha' if direction == 'asc' else 'beta'])

    def test_order_by_last_used_at_asc_and_desc(self):
        used = ['srch-banana', 'srch-kiwi', 'srch-delta', 'srch-cherry']
        for name in used:
            self.assertTokenWorks(self.tokens[name]['secret'])
            time.sleep(0.05)

        def all_recorded():
            tokens = self.search('name=srch&status=active')['tokens']
            stamps = {t['name']: t['lastUsedAt'] for t in tokens}
            return all(stamps.get(n) for n in used)
        self.assertTrue(wait_until(all_recorded, PROPAGATION_TIMEOUT_S, 0.2),
                        'lastUsedAt not recorded within 5 s')
        self.assertOrder('name=srch&status=active&orderKey=lastUsedAt', used)

    def test_order_by_last_used_at_without_a_name_filter_follows_each_call(self):
        # Without a name filter the order is walked in the server's search index, which hears
        # of last uses from the store's batched writes of them. Its syncs reread tokens changed
        # in the last 5 s anyway, so the tokens must be older than that to tell.
        time.sleep(5.5)
        used = ['srch-cherry', 'srch-banana', 'srch-kiwi']
        for name in used:
            self.assertTokenWorks(self.tokens[name]['secret'])
            time.sleep(0.05)

        # The organization token that searches is used by every search, so it leads.
        def newest_first():
            tokens = self.search('orderKey=lastUsedAt&orderDirection=desc&pageSize=4')['tokens']
            return [t['name'] for t in tokens if t['name'] in self.tokens] == used[::-1]
        self.assertTrue(wait_until(newest_first, PROPAGATION_TIMEOUT_S, 0.2),
                        'the last-use order did not follow the calls within 5 s')
        oldest = self.search('orderKey=lastUsedAt&orderDirection=asc&pageSize=500')['tokens']
        self.assertEqual([t['name'] for t in oldest if t['name'] in self.tokens][-3:], used)

    def test_pages(self):
        expected = sorted(self.expected())
        total = len(expected)
        seen = []
        for page in range(1, 4):
            body = self.search(f'name=srch&orderKey=name&pageSize=4&startPage={page}')
            self.assertEqual(body['count'], total)
            self.assertEqual(body['pages'], math.ceil(total / 4))
            self.assertEqual(body['startPage'], page)
            self.assertEqual(body['pageSize'], 4)
            seen += [t['name'] for t in body['tokens']]
            self.assertLessEqual(len(body['tokens']), 4)
        self.assertEqual(seen, expected)
        self.assertEqual(self.search('name=srch&pageSize=1&startPage=3')['tokens'][0]['name'],
                         expected[2])
        second_page = self.search('name=srch&PAGESIZE=2&StartPage=2')['tokens']
        everything = self.search('name=srch&pageSize=6')['tokens']
        self.assertEqual([t['id'] for t in second_page], [t['id'] for t in everything[2:4]])

    def test_page_size_500_is_accepted_and_501_is_400_id_8(self):
        self.assertEqual(self.search('pageSize=500')['pageSize'], 500)
        self.assertError(self.get('/v2/tokens?pageSize=501'), e_range('pageSize'))

    def test_bad_enum_values_are_400_id_11(self):
        for key, value in (('orderKey', 'colour'), ('scope', 'galaxy'), ('status', 'sleeping'),
                           ('orderDirection', 'sideways')):
            with self.subTest(key=key):
                self.assertError(self.get(f'/v2/tokens?{key}={value}'), e_pattern(key))
