"""API.md section 4: projects, their default token, listings and deletion."""

import datetime
import time
import urllib.parse
import uuid

from .harness import (E_BAD_TOKEN, E_PROJECT_EXISTS, E_PROJECT_NOT_FOUND, GatehouseTestCase,
                      PROJECT_SECRET_RE, e_pattern, e_range, e_required, unique)

PROJECT_KEYS = {'projectId', 'projectName', 'projectDescription', 'projectActive',
                'projectStatus', 'organizationId', 'organizationName', 'searchProfiles',
                'createdAt', 'updatedAt'}


class ProjectCreationTests(GatehouseTestCase):

    def assertProjectObject(self, project):
        self.assertTrue(PROJECT_KEYS <= set(project), f'missing {PROJECT_KEYS - set(project)}')
        self.assertUuid4(project['projectId'])
        self.assertEqual(project['organizationId'], self.org_id)
        self.assertEqual(project['organizationName'], 'Default')
        self.assertEqual(project['searchProfiles'], [])
        self.assertTimestamp(project['createdAt'])
        self.assertTimestamp(project['updatedAt'])

    def test_create_returns_the_project_object(self):
        name = unique('create')
        project = self.create_project(name, description='Support desk')
        self.assertProjectObject(project)
        self.assertEqual(project['projectName'], name)
        self.assertEqual(project['projectDescription'], 'Support desk')
        self.assertIs(project['projectActive'], True)
        self.assertEqual(project['projectStatus'], 0)

    def test_create_returns_a_default_token_with_its_secret(self):
        project = self.create_project()
        tokens = project['tokens']
        self.assertIsInstance(tokens, list)
        self.assertEqual(len(tokens), 1)
        token = tokens[0]
        self.assertTrue({'id', 'name', 'description', 'status', 'scope', 'timestamp',
                         'secret'} <= set(token), token)
        self.assertUuid4(token['id'])
        self.assertEqual(token['name'], 'Default')
        self.assertEqual(token['description'], 'Default token')
        self.assertEqual(token['status'], 'Active')
        self.assertEqual(token['scope'], 'Project')
        self.assertTimestamp(token['timestamp'])
        self.assertRegex(token['secret'], PROJECT_SECRET_RE)
        self.assertNotEqual(token['secret'], token['id'])

    def test_default_token_works_at_once_on_validate(self):
        project = self.create_project()
        token = project['tokens'][0]
        body = self.assertTokenWorks(token['secret'])
        self.assertEqual(body, {
            'organizationId': self.org_id, 'organizationName': 'Default',
            'projectId': project['projectId'], 'projectName': project['projectName'],
            'apiTokenId': token['id'], 'apiTokenName': 'Default', 'scope': 'Project',
            'status': 'Active'})

    def test_timestamps_are_utc_now(self):
        project = self.create_project()
        for key in ('createdAt', 'updatedAt'):
            stamp = datetime.datetime.strptime(project[key], '%Y-%m-%dT%H:%M:%S.%fZ')
            seconds = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
            self.assertLess(abs(seconds - time.time()), 60, f'{key} {project[key]} is not now')
        token_time = project['tokens'][0]['timestamp']
        self.assertLess(abs(datetime.datetime.strptime(token_time, '%Y-%m-%dT%H:%M:%S.%fZ')
                            .replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()), 60)

    def test_non_ascii_names_round_trip_and_length_counts_characters(self):
        name = unique('caf\u00e9') + ' \u2615 \u65e5\u672c'
        project = self.create_project(name, description='d\u00e9j\u00e0 vu \U0001f600')
        self.assertEqual(project['projectName'], name)
        self.assertEqual(project['projectDescription'], 'd\u00e9j\u00e0 vu \U0001f600')
        again = self.ok(self.get(f'/v1/organization/project/{project["projectId"]}'))
        self.assertEqual(again['projectName'], name)
        hundred = '\u00e9' * 100  # 100 characters, 200 bytes of UTF-8
        self.assertEqual(self.create_project(hundred)['projectName'], hundred)
        response = self.request('POST', '/v1/organization/project', body={'name': '\u00e9' * 101},
                                token=self.org_token)
        self.assertError(response, e_range('name'))

    def test_escaped_unicode_in_json_is_decoded(self):
        raw = b'{"name": "esc-\\u00e9-' + uuid.uuid4().hex[:6].encode() + b'"}'
        project = self.ok(self.request('POST', '/v1/organization/project', raw_body=raw,
                                       token=self.org_token))
        self.assertTrue(project['projectName'].startswith('esc-\u00e9-'), project['projectName'])

    def test_body_keys_are_case_insensitive(self):
        name = unique('keys')
        response = self.request('POST', '/v1/organization/project',
                                body={'Name': name, 'Description': 'Old client'},
                                token=self.org_token)
        project = self.ok(response)
        self.assertEqual(project['projectName'], name)
        self.assertEqual(project['projectDescription'], 'Old client')
        response = self.request('PUT', f'/v1/organization/project/{project["projectId"]}',
                                body={'NAME': name + '-x', 'DESCRIPTION': 'Upper'},
                                token=self.org_token)
        self.assertEqual(self.ok(response)['projectName'], name + '-x')

    def test_usage_limit_in_body_is_accepted_and_ignored(self):
        name = unique('limited')
        body = {'name': name, 'usageLimit': {'subscriptionType': 'Monthly',
                                             'usageUnit': 'Requests', 'softLimit': 10,
                                             'hardLimit': 20, 'renewalStatus': 'Renewable'}}
        project = self.ok(self.request('POST', '/v1/organization/project', body=body,
                                       token=self.org_token))
        self.assertEqual(project['projectName'], name)

    def test_the_usage_limits_problems_come_with_the_bodys_others_in_one_answer(self):
        # api-decisions: several problems in one body are several items of "errors".
        before = self.snapshot()
        response = self.request('POST', '/v1/organization/project', token=self.org_token,
                                body={'description': 'x', 'usageLimit': {
                                    'subscriptionType': 'Bogus', 'usageUnit': 'Requests'}})
        self.assertError(response, e_required('name'))
        self.assertError(response, e_pattern('subscriptionType'))
        self.assertError(response, e_required('hardLimit'))
        self.assertEqual(self.snapshot(), before)

    def test_missing_name_is_400_id_9(self):
        response = self.request('POST', '/v1/organization/project', body={'description': 'x'},
                                token=self.org_token)
        self.assertError(response, e_required('name'))

    def test_duplicate_name_is_409_id_2029_and_creates_nothing(self):
        name = unique('dup')
        self.create_project(name)
        before = self.snapshot()
        response = self.request('POST', '/v1/organization/project', body={'name': name},
                                token=self.org_token)
        self.assertError(response, E_PROJECT_EXISTS)
        self.assertEqual(self.snapshot(), before)

    def test_get_project_by_id_returns_the_project_object(self):
        project = self.create_project(description='to read')
        body = self.ok(self.get(f'/v1/organization/project/{project["projectId"]}'))
        self.assertProjectObject(body)
        for key in PROJECT_KEYS:
            self.assertEqual(body[key], project[key], key)
        self.assertNotIn('secret', str(body))

    def test_hidden_project_can_still_be_read_by_id(self):
        project = self.create_project()
        pid = project['projectId']
        self.ok(self.request('PUT', f'/v1/organization/project/{pid}',
                             body={'name': project['projectName'], 'active': False},
                             token=self.org_token))
        body = self.ok(self.get(f'/v1/organization/project/{pid}'))
        self.assertEqual((body['projectActive'], body['projectStatus']), (False, 2))

    def test_unknown_project_id_is_404_id_2005(self):
        missing = str(uuid.uuid4())
        for method, path, body in (
                ('GET', f'/v1/organization/project/{missing}', None),
                ('PUT', f'/v1/organization/project/{missing}', {'name': unique('x')}),
                ('DELETE', f'/v1/organization/project/{missing}', None),
                ('GET', f'/v1/organization/project/{missing}/tokens', None)):
            with self.subTest(method=method, path=path):
                response = self.request(method, path, body=body, token=self.org_token)
                self.assertError(response, E_PROJECT_NOT_FOUND)

    def test_token_list_of_a_new_project_holds_its_default_token_without_secret(self):
        project = self.create_project()
        body = self.ok(self.get(f'/v1/organization/project/{project["projectId"]}/tokens'))
        self.assertEqual([t['id'] for t in body['tokens']], [project['tokens'][0]['id']])
        token = body['tokens'][0]
        self.assertNotIn('secret', token)
        self.assertEqual(token['secretPrefix'], project['tokens'][0]['secret'][:8])
        self.assertEqual(token['projectId'], project['projectId'])
        self.assertEqual(token['projectName'], project['projectName'])


class ProjectUpdateTests(GatehouseTestCase):

    def put(self, pid, body):
        return self.request('PUT', f'/v1/organization/project/{pid}', body=body,
                            token=self.org_token)

    def test_update_changes_name_and_description(self):
        project = self.create_project(description='before')
        name = unique('after')
        body = self.ok(self.put(project['projectId'], {'name': name, 'description': 'after'}))
        self.assertEqual(body['projectId'], project['projectId'])
        self.assertEqual(body['projectName'], name)
        self.assertEqual(body['projectDescription'], 'after')
        self.assertTimestamp(body['updatedAt'])
        self.assertGreaterEqual(body['updatedAt'], project['updatedAt'])
        self.assertEqual(body['createdAt'], project['createdAt'])
        again = self.ok(self.get(f'/v1/organization/project/{project["projectId"]}'))
        self.assertEqual(again['projectName'], name)

    def test_update_without_name_is_400_id_9(self):
        project = self.create_project()
        self.assertError(self.put(project['projectId'], {'description': 'no name'}),
                         e_required('name'))

    def test_update_to_a_taken_name_is_409_id_2029(self):
        first = self.create_project()
        second = self.create_project()
        response = self.put(second['projectId'], {'name': first['projectName']})
        self.assertError(response, E_PROJECT_EXISTS)
        again = self.ok(self.get(f'/v1/organization/project/{second["projectId"]}'))
        self.assertEqual(again['projectName'], second['projectName'])

    def test_update_keeping_its_own_name_is_allowed(self):
        project = self.create_project()
        body = self.ok(self.put(project['projectId'], {'name': project['projectName'],
                                                       'description': 'same name'}))
        self.assertEqual(body['projectDescription'], 'same name')


class ProjectListingTests(GatehouseTestCase):
    """Every project name in this class is lower-case ASCII so that orderings are unambiguous."""

    def listing(self, query=''):
        body = self.ok(self.get(f'/v1/organization/projects{query}'))
        self.assertIsInstance(body['projects'], list)
        return body['projects']

    def names(self, query=''):
        return [p['projectName'] for p in self.listing(query)]

    def hide(self, project):
        body = self.ok(self.request('PUT', f'/v1/organization/project/{project["projectId"]}',
                                    body={'name': project['projectName'], 'active': False},
                                    token=self.org_token))
        return body

    def test_hiding_a_project_sets_project_active_false_and_status_2(self):
        project = self.create_project()
        body = self.hide(project)
        self.assertIs(body['projectActive'], False)
        self.assertEqual(body['projectStatus'], 2)

    def test_summary_lists_active_projects_only(self):
        shown = self.create_project()
        hidden = self.create_project()
        self.hide(hidden)
        for query in ('', '?detail=summary'):
            with self.subTest(query=query):
                names = self.names(query)
                self.assertIn(shown['projectName'], names)
                self.assertNotIn(hidden['projectName'], names)

    def test_full_detail_includes_hidden_projects(self):
        hidden = self.create_project()
        self.hide(hidden)
        for query in ('?detail=full', '?DETAIL=full', '?Detail=FULL'):
            with self.subTest(query=query):
                found = [p for p in self.listing(query) if p['projectId'] == hidden['projectId']]
                self.assertEqual(len(found), 1)
                self.assertIs(found[0]['projectActive'], False)
                self.assertEqual(found[0]['projectStatus'], 2)

    def test_hidden_project_can_be_shown_again(self):
        project = self.create_project()
        self.hide(project)
        body = self.ok(self.request('PUT', f'/v1/organization/project/{project["projectId"]}',
                                    body={'name': project['projectName'], 'active': True},
                                    token=self.org_token))
        self.assertIs(body['projectActive'], True)
        self.assertEqual(body['projectStatus'], 0)
        self.assertIn(project['projectName'], self.names())

    def test_name_filter_is_exact(self):
        base = unique('exact')
        self.create_project(base)
        self.create_project(base + 'x')
        self.create_project('x' + base)
        for query in (f'?name={base}', f'?NAME={base}'):
            with self.subTest(query=query):
                self.assertEqual(self.names(query), [base])
        self.assertEqual(self.names(f'?name={base[:-1]}'), [])

    def test_name_filter_accepts_percent_encoded_names(self):
        name = unique('with space') + ' & more'
        self.create_project(name)
        query = urllib.parse.urlencode({'name': name})
        self.assertEqual(self.names(f'?{query}'), [name])

    def test_name_filter_applies_with_full_detail(self):
        hidden = self.create_project()
        self.hide(hidden)
        self.assertEqual(self.names(f'?name={hidden["projectName"]}'), [])
        self.assertEqual(self.names(f'?detail=full&name={hidden["projectName"]}'),
                         [hidden['projectName']])

    def test_projects_are_ordered_by_name(self):
        stem = unique('order')
        for suffix in ('m', 'c', 'x', 'a', 'q'):
            self.create_project(f'{stem}-{suffix}')
        names = self.names()
        mine = [n for n in names if n.startswith(stem)]
        self.assertEqual(mine, sorted(mine))
        self.assertEqual(len(mine), 5)
        lowered = [n for n in names if n == n.lower()]
        self.assertEqual(lowered, sorted(lowered))

    def test_listing_items_are_project_objects(self):
        project = self.create_project(description='listed')
        found = [p for p in self.listing() if p['projectId'] == project['projectId']]
        self.assertEqual(len(found), 1)
        self.assertTrue(PROJECT_KEYS <= set(found[0]))
        self.assertEqual(found[0]['projectDescription'], 'listed')
        self.assertNotIn('tokens', found[0])


class ProjectDeletionTests(GatehouseTestCase):

    def test_delete_answers_project_deleted_successfully(self):
        project = self.create_project()
        response = self.request('DELETE', f'/v1/organization/project/{project["projectId"]}',
                                token=self.org_token)
        self.assertEqual(self.ok(response), {'messages': [
            {'id': 0, 'description': 'Project deleted successfully', 'type': 'Success'}]})

    def test_deleted_project_disappears_from_every_listing(self):
        project = self.create_project()
        pid = project['projectId']
        self.ok(self.request('DELETE', f'/v1/organization/project/{pid}', token=self.org_token))
        for query in ('', '?detail=full', f'?name={project["projectName"]}',
                      f'?detail=full&name={project["projectName"]}'):
            with self.subTest(query=query):
                listing = self.ok(self.get(f'/v1/organization/projects{query}'))['projects']
                self.assertNotIn(pid, [p['projectId'] for p in listing])
        self.assertError(self.get(f'/v1/organization/project/{pid}'), E_PROJECT_NOT_FOUND)
        self.assertError(self.get(f'/v1/organization/project/{pid}/tokens'),
                         E_PROJECT_NOT_FOUND)
        tokens = self.ok(self.get('/v2/tokens?pageSize=500'))['tokens']
        self.assertNotIn(pid, [t.get('projectId') for t in tokens])

    def test_deleting_a_project_revokes_all_its_tokens(self):
        project = self.create_project()
        pid = project['projectId']
        extra = self.create_project_token(pid)
        blocked = self.create_project_token(pid, status='blocked')
        secrets = [project['tokens'][0]['secret'], extra['secret']]
        for secret in secrets:
            self.assertTokenWorks(secret)
        self.ok(self.request('DELETE', f'/v1/organization/project/{pid}', token=self.org_token))
        for secret in secrets + [blocked['secret']]:
            self.assertTokenRejected(secret)
        self.assertError(self.get(f'/v1/organization/project/{pid}', token=secrets[0]),
                         E_BAD_TOKEN)

    def test_deleting_twice_is_404_id_2005(self):
        project = self.create_project()
        path = f'/v1/organization/project/{project["projectId"]}'
        self.ok(self.request('DELETE', path, token=self.org_token))
        self.assertError(self.request('DELETE', path, token=self.org_token), E_PROJECT_NOT_FOUND)
        self.assertError(self.request('PUT', path, body={'name': unique('x')},
                                      token=self.org_token), E_PROJECT_NOT_FOUND)

    def test_tokens_cannot_be_created_in_a_deleted_project(self):
        project = self.create_project()
        pid = project['projectId']
        self.ok(self.request('DELETE', f'/v1/organization/project/{pid}', token=self.org_token))
        response = self.request('POST', '/v2/projects/tokens', body={'name': unique('t')},
                                headers={'project-id': pid}, token=self.org_token)
        self.assertError(response, E_PROJECT_NOT_FOUND)
