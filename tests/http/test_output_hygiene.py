"""Issue 12, item 10 (console and output hygiene): security headers on the console's pages and
files, /metrics behind an optional bearer token, CSV cells that cannot run as formulas, and CLI
output that escapes control characters."""

import csv
import io
import re
from html.parser import HTMLParser

from .harness import (E_BAD_TOKEN, E_NO_KEY, REPO_ROOT, GatehouseTestCase, GatewayTestCase,
                      unique)

WEB_SOURCES = REPO_ROOT / 'web' / 'public'
METRICS_TOKEN = 'metrics-' + 'x' * 24


class InlineCode(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == 'script' and 'src' not in names:
            self.found.append('inline <script>')
        if tag == 'style':
            self.found.append('inline <style>')
        for name, value in attrs:
            if name.startswith('on'):
                self.found.append(f'event handler attribute {name}')
            if name == 'style':
                self.found.append('style attribute')
            if name in ('href', 'src') and (value or '').lower().startswith('javascript:'):
                self.found.append(f'javascript: URL in {name}')


def inline_code_of(html):
    parser = InlineCode()
    parser.feed(html)
    return parser.found


class ConsoleSecurityHeaderTests(GatehouseTestCase):

    serve_args = ('--web-dir', str(WEB_SOURCES))

    def assertSecurityHeaders(self, response, path):
        self.assertEqual(response.status, 200, path)
        policy = response.headers.get('Content-Security-Policy') or ''
        directives = {d.split()[0]: d.split()[1:] for d in
                      (part.strip() for part in policy.split(';')) if d}
        self.assertIn("'self'", directives.get('script-src', []), policy)
        for directive in ('script-src', 'style-src', 'default-src'):
            self.assertNotIn("'unsafe-inline'", directives.get(directive, []), policy)
            self.assertNotIn("'unsafe-eval'", directives.get(directive, []), policy)
        self.assertEqual(directives.get('frame-ancestors'), ["'none'"], policy)
        self.assertEqual(response.headers.get('X-Content-Type-Options'), 'nosniff', path)
        self.assertEqual(response.headers.get('Referrer-Policy'), 'no-referrer', path)

    def test_console_pages_and_files_carry_the_security_headers(self):
        for path in ('/docs', '/docs.html', '/docs.js', '/docs.css', '/openapi.json'):
            with self.subTest(path=path):
                response = self.request('GET', path)
                if path == '/openapi.json':
                    # Generated from the route table, JSON: nosniff is what matters there.
                    continue
                self.assertSecurityHeaders(response, path)

    def test_console_html_has_no_inline_script_or_style_that_the_policy_would_block(self):
        pages = [WEB_SOURCES / 'docs.html', REPO_ROOT / 'web' / 'index.html']
        built = REPO_ROOT / 'web' / 'dist' / 'index.html'
        if built.exists():
            pages.append(built)
        for page in pages:
            with self.subTest(page=str(page.relative_to(REPO_ROOT))):
                self.assertEqual(inline_code_of(page.read_text()), [])


class MetricsTokenFromEnvironmentTests(GatehouseTestCase):

    serve_env = {'GATEHOUSE_METRICS_TOKEN': METRICS_TOKEN}

    def test_metrics_need_the_bearer_token_when_one_is_configured(self):
        self.assertError(self.request('GET', '/metrics'), E_NO_KEY)
        self.assertError(self.request('GET', '/metrics', token='wrong'), E_BAD_TOKEN)
        self.assertError(self.request('GET', '/metrics', token=self.org_token), E_BAD_TOKEN)
        response = self.request('GET', '/metrics', token=METRICS_TOKEN)
        self.assertEqual(response.status, 200, response.body)
        self.assertIn('gatehouse_http_requests_total', response.body)
        # Health probes stay public.
        self.assertEqual(self.request('GET', '/healthz').status, 200)


class MetricsTokenFromConfigFileTests(GatehouseTestCase):

    @classmethod
    def server_config(cls):
        return f'[server]\nmetrics_token = "{METRICS_TOKEN}"\n'

    def test_metrics_token_can_come_from_the_config_file(self):
        self.assertError(self.request('GET', '/metrics'), E_NO_KEY)
        self.assertEqual(self.request('GET', '/metrics', token=METRICS_TOKEN).status, 200)


class CsvFormulaTests(GatewayTestCase):

    def test_csv_export_cells_starting_with_formula_characters_are_neutralized(self):
        project = self.make_project()
        texts = ['=HYPERLINK("http://evil.example","x")', '+1+2', '-3+4', '@SUM(A1:A2)']
        for text in texts:
            self.assertEqual(self.chat(project.token, 'fake/echo', text=text).status, 200)
        self.wait_items(lambda item: item.get('inputText') in texts, len(texts),
                        projectId=project.project_id)
        raw = self.export_raw(self.org_token, format='csv', projectId=project.project_id).body
        rows = list(csv.DictReader(io.StringIO(raw, newline='')))
        inputs = sorted(row['inputText'] for row in rows)
        self.assertEqual(inputs, sorted("'" + text for text in texts))
        # JSON keeps the text unchanged.
        items = self.export_items(self.org_token, projectId=project.project_id)
        self.assertEqual(sorted(item['inputText'] for item in items), sorted(texts))


class CliEscapesControlCharactersTests(GatehouseTestCase):

    def test_cli_prints_names_with_control_characters_escaped(self):
        name = unique('evil') + '\x1b[2J\nforged\tline\x07\u0085'
        response = self.request('POST', '/v1/organization/project', body={'name': name},
                                token=self.org_token)
        self.assertEqual(response.status, 200, response.body)
        out = self.server.cli('project list', json_out=False)
        self.assertNotRegex(out, r'[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]')
        lines = [line for line in out.splitlines() if line.startswith(response.body['projectId'])]
        self.assertEqual(len(lines), 1, out)
        self.assertEqual(lines[0].split('\t')[1],
                         name.split('\x1b')[0] + '\\x1b[2J\\x0aforged\\x09line\\x07\\u0085')
        tokens = self.server.cli('token list', json_out=False)
        self.assertNotIn('\x1b', tokens)
