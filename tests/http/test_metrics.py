"""API.md section 10: GET /metrics in Prometheus text format."""

import re

from .harness import GatehouseTestCase

VALIDATE = '/v1/accessControl/apitoken/validate'


class MetricsTests(GatehouseTestCase):

    def metrics(self):
        response = self.request('GET', '/metrics')
        self.assertEqual(response.status, 200)
        self.assertTrue(response.headers.get('Content-Type', '').startswith('text/plain'))
        return response.body if isinstance(response.body, str) else str(response.body)

    def sample(self, text, name, labels=''):
        pattern = r'(?m)^' + re.escape(name + (('{' + labels + '}') if labels else '')) + r' (\S+)$'
        match = re.search(pattern, text)
        self.assertIsNotNone(match, f'{name}{{{labels}}} missing in:\n{text[:3000]}')
        return float(match.group(1))

    def test_requests_are_counted_by_route_pattern_and_status(self):
        project = self.create_project()
        before = self.metrics()
        route_labels = 'method="GET",route="/v1/organization/project/{id}",status="200"'
        start = self.sample(before, 'gatehouse_http_requests_total', route_labels) \
            if route_labels in before else 0
        for _ in range(3):
            self.ok(self.request('GET', f'/v1/organization/project/{project["projectId"]}',
                                 token=self.org_token))
        after = self.metrics()
        self.assertEqual(self.sample(after, 'gatehouse_http_requests_total', route_labels),
                         start + 3)
        self.assertNotIn(project['projectId'], after, 'raw paths must not become labels')
        self.assertGreater(self.sample(after, 'gatehouse_http_request_duration_seconds_count'), 0)
        self.assertIn('gatehouse_http_request_duration_seconds_bucket{le="+Inf"}', after)

    def test_auth_failures_are_counted_by_reason(self):
        before = self.metrics()
        missing = self.sample(before, 'gatehouse_auth_failures_total', 'reason="missing"')
        invalid = self.sample(before, 'gatehouse_auth_failures_total', 'reason="invalid"')
        scope = self.sample(before, 'gatehouse_auth_failures_total', 'reason="out_of_scope"')
        self.request('GET', VALIDATE)
        self.request('GET', VALIDATE, token='gtp_' + 'x' * 49)
        self.request('GET', VALIDATE, token='gtp_' + 'y' * 49)
        secret = self.create_project()['tokens'][0]['secret']
        self.request('GET', '/v2/tokens', token=secret)
        after = self.metrics()
        self.assertEqual(self.sample(after, 'gatehouse_auth_failures_total', 'reason="missing"'),
                         missing + 1)
        self.assertEqual(self.sample(after, 'gatehouse_auth_failures_total', 'reason="invalid"'),
                         invalid + 2)
        self.assertEqual(
            self.sample(after, 'gatehouse_auth_failures_total', 'reason="out_of_scope"'),
            scope + 1)

    def test_token_cache_and_request_log_gauges_are_exposed(self):
        self.create_project()
        text = self.metrics()
        self.assertGreaterEqual(self.sample(text, 'gatehouse_token_cache_size'), 2)
        for name in ('gatehouse_request_log_queue_depth', 'gatehouse_request_log_written_total',
                     'gatehouse_request_log_dropped_total', 'gatehouse_request_log_flush_seconds'):
            self.sample(text, name)

    def test_metrics_never_contain_a_secret(self):
        secret = self.create_project()['tokens'][0]['secret']
        self.ok(self.request('GET', VALIDATE, token=secret))
        text = self.metrics()
        self.assertNotIn(secret, text)
        self.assertNotIn(self.org_token, text)
