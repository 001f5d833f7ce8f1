"""API.md section 9: organizations, managed with the system administrator credential."""

import math
import os
import stat

from .harness import (ADMIN_SECRET_RE, E_BAD_TOKEN, E_SCOPE, ORG_SECRET_RE, GatehouseTestCase,
                      e_pattern, e_required, unique)

ORGS = '/v2/admin/organizations'


class AdminCredentialFileTests(GatehouseTestCase):

    def test_admin_token_file_holds_a_gts_secret_with_mode_0600(self):
        path = self.server.data_dir / 'admin.token'
        self.assertRegex(self.admin_token, ADMIN_SECRET_RE)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_admin_secret_is_not_an_organization_token(self):
        response = self.request('GET', '/v1/accessControl/apitoken/validate',
                                token=self.admin_token)
        self.assertOneOfErrors(response, [E_SCOPE, E_BAD_TOKEN])

    def test_wrong_admin_secret_is_401_id_6(self):
        wrong = self.admin_token[:-1] + ('A' if self.admin_token[-1] != 'A' else 'B')
        self.assertError(self.get(ORGS, token=wrong), E_BAD_TOKEN)


class OrganizationAdminTests(GatehouseTestCase):
    """All organizations created here are named org-…, lower-case (after the built-in Default)."""

    def post(self, body):
        return self.request('POST', ORGS, body=body, token=self.admin_token)

    def listing(self, query=''):
        body = self.ok(self.get(f'{ORGS}{"?" + query if query else ""}', token=self.admin_token))
        for key in ('count', 'pages', 'organizations'):
            self.assertIn(key, body)
        return body

    def test_create_returns_the_organization_and_a_working_default_token(self):
        name = unique('org-create')
        body = self.ok(self.post({'name': name, 'administratorUserEmail': 'boss@example.com'}))
        self.assertUuid4(body['organizationId'])
        self.assertEqual(body['organizationName'], name)
        token = body['apiToken']
        self.assertUuid4(token['id'])
        self.assertEqual(token['name'], 'DefaultOrganization')
        self.assertEqual(token['description'], 'Default for Organization ApiToken')
        self.assertEqual(token['status'], 'Active')
        self.assertEqual(token['scope'], 'Organization')
        self.assertEqual(token['organizationId'], body['organizationId'])
        self.assertTimestamp(token['timestamp'])
        self.assertRegex(token['secret'], ORG_SECRET_RE)
        self.assertEqual(token['secretPrefix'], token['secret'][:8])
        validated = self.assertTokenWorks(token['secret'])
        self.assertEqual((validated['organizationId'], validated['organizationName'],
                          validated['scope'], validated['apiTokenName']),
                         (body['organizationId'], name, 'Organization', 'DefaultOrganization'))
        self.assertEqual(self.ok(self.get('/v1/organization/projects?detail=full',
                                          token=token['secret'])), {'projects': []})

    def test_create_without_name_is_400_id_9(self):
        self.assertError(self.post({'administratorUserEmail': 'a@example.com'}),
                         e_required('name'))

    def test_create_with_bad_email_is_400_id_11_and_creates_nothing(self):
        name = unique('org-bad-mail')
        self.assertError(self.post({'name': name, 'administratorUserEmail': 'nope'}),
                         e_pattern('administratorUserEmail'))
        names = [o['organizationName'] for o in self.listing('pageSize=500')['organizations']]
        self.assertNotIn(name, names)

    def test_list_items_have_id_and_name(self):
        created = self.ok(self.post({'name': unique('org-item')}))
        items = self.listing('pageSize=500')['organizations']
        found = [o for o in items if o['organizationId'] == created['organizationId']]
        self.assertEqual(found, [{'organizationId': created['organizationId'],
                                  'organizationName': created['organizationName']}])
        self.assertIn({'organizationId': self.org_id, 'organizationName': 'Default'}, items)

    def test_list_orders_by_name_and_pages(self):
        stem = unique('org-page')
        for suffix in ('c', 'a', 'e', 'b', 'd'):
            self.ok(self.post({'name': f'{stem}-{suffix}'}))
        everything = self.listing('pageSize=500&orderKey=name')
        names = [o['organizationName'] for o in everything['organizations']]
        self.assertEqual(everything['count'], len(names))
        self.assertEqual(names, sorted(names))
        desc = self.listing('pageSize=500&orderKey=name&orderDirection=desc')
        self.assertEqual([o['organizationName'] for o in desc['organizations']],
                         list(reversed(names)))
        paged = []
        total = everything['count']
        for page in range(1, total + 1):
            body = self.listing(f'pageSize=2&startPage={page}&orderKey=name')
            self.assertEqual(body['count'], total)
            self.assertEqual(body['pages'], math.ceil(total / 2))
            paged += [o['organizationName'] for o in body['organizations']]
            if len(paged) >= total:
                break
        self.assertEqual(paged, names)

    def test_list_filters_by_name(self):
        stem = unique('org-filter')
        self.ok(self.post({'name': stem}))
        for query in (f'filterKey=name&filterValue={stem}', f'FILTERKEY=name&FilterValue={stem}'):
            with self.subTest(query=query):
                body = self.listing(query)
                self.assertEqual([o['organizationName'] for o in body['organizations']], [stem])
                self.assertEqual((body['count'], body['pages']), (1, 1))
        body = self.listing(f'filterKey=name&filterValue=no-such-{stem}')
        self.assertEqual((body['count'], body['organizations']), (0, []))

    def test_delete_revokes_all_tokens_of_the_organization(self):
        created = self.ok(self.post({'name': unique('org-gone')}))
        org_secret = created['apiToken']['secret']
        project = self.create_project(token=org_secret)
        project_secret = project['tokens'][0]['secret']
        second = self.create_org_token(token=org_secret)
        for secret in (org_secret, project_secret, second['secret']):
            self.assertTokenWorks(secret)
        response = self.request('DELETE', f'{ORGS}/{created["organizationId"]}',
                                token=self.admin_token)
        self.assertEqual(response.status, 200, response.body)
        for secret in (org_secret, project_secret, second['secret']):
            self.assertTokenRejected(secret)
        ids = [o['organizationId'] for o in self.listing('pageSize=500')['organizations']]
        self.assertNotIn(created['organizationId'], ids)
        self.assertTokenWorks(self.org_token, 'other organizations are untouched')

    def test_admin_routes_refuse_organization_tokens(self):
        created = self.ok(self.post({'name': unique('org-refuse')}))
        response = self.request('DELETE', f'{ORGS}/{created["organizationId"]}',
                                token=created['apiToken']['secret'])
        self.assertError(response, E_SCOPE)
        response = self.request('DELETE', f'{ORGS}/{self.org_id}', token=self.org_token)
        self.assertError(response, E_SCOPE)
        self.assertTokenWorks(created['apiToken']['secret'])
        self.assertTokenWorks(self.org_token)
