"""webserver3i.py: the project's own WSGI server in Part 2's shape,
concurrent the way 3g is, hardened for real and hostile clients.

The apps live in tests/apps/ and are imported from the server's working
directory, as `python webserver3i.py module:callable` does for a user.
"""
import ast
import email.utils
import hashlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import calls
import diffs
import support
from conftest import python2
from support import (
    APPS, DEADLINE, Server, connect, read_at_least, read_until_eof,
    require, require_dev, run_client3, script, wait_for, wchan)

pytestmark = pytest.mark.min_python((3, 6))
DEV = '%s is not installed (pip install -r requirements-dev.txt)'
# 3i is beyond the article: like the tools', its tests run with the full
# install (its real clients, requests and httpx, and Flask and Django for a
# third of them), so that the lean one, pytest alone, is the lessons' (and
# fast). Not under --mine, which runs none of them.
if not support.MINE:
    require_dev('requests', 'httpx', allow_module_level=True,
                what="webserver3i.py, beyond the article, is tested with the full install")


@pytest.fixture
def wsgi(serve):
    """wsgi('validated:app') starts webserver3i.py serving that app."""
    def start(app, env=None):
        return serve('webserver3i.py', args=[app], env=env, cwd=APPS)
    return start


def exchange(port, raw, timeout=DEADLINE):
    """Send raw bytes, read the answer up to FIN: (status, headers, body)."""
    with connect(port, timeout) as sock:
        sock.sendall(raw)
        return parse(read_until_eof(sock, timeout))


def parse(response):
    """A whole response: (status, headers with lower-case names, body, its
    chunks decoded)."""
    head, _, body = response.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    assert all(b'\n' not in line for line in lines), \
        'a header line not ending in CRLF'
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode('latin-1').partition(':')
        assert name.lower() not in headers, 'two %s fields' % name
        headers[name.strip().lower()] = value.strip()
    if headers.get('transfer-encoding') == 'chunked':
        body = dechunk(body)
    return status, headers, body


def dechunk(body):
    """A chunked body decoded, strictly (RFC 9112 §7.1): chunks each ended by
    CRLF, a last chunk, no trailer fields, nothing after."""
    pieces = []
    while True:
        size, crlf, body = body.partition(b'\r\n')
        assert crlf and re.match(rb'[0-9a-f]+\Z', size), size[:20]
        size = int(size, 16)
        if size == 0:
            assert body == b'\r\n', 'after the last chunk: %r' % body[:50]
            return b''.join(pieces)
        assert body[size:size + 2] == b'\r\n', 'chunk data of a wrong size'
        pieces.append(body[:size])
        body = body[size + 2:]


def request(port, method='GET', target='/', headers=(), body=b''):
    head = ['%s %s HTTP/1.1' % (method, target), 'Host: localhost']
    if body:
        head.append('Content-Length: %d' % len(body))
    head.extend(headers)
    raw = ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1') + body
    return exchange(port, raw)


def assert_dated_and_signed(headers):
    """Date and Server, on every answer (RFC 9110 §6.6.1, §10.2.4)."""
    date = email.utils.parsedate_to_datetime(headers['date'])
    assert date.timestamp() == pytest.approx(time.time(), abs=60)
    assert headers['server'] == 'WSGIServer 0.3'


def assert_clean(server):
    """No validator warning and no traceback in the server's output."""
    out = server.output
    assert 'Warning' not in out and 'Traceback' not in out, out


# PEP 3333, seen through wsgiref.validate -------------------------------------

def test_get_with_a_query_fills_the_environ(wsgi):
    server = wsgi('validated:app')
    status, headers, body = request(
        server.port, target='/caf%C3%A9/x%20y?a=1&b=%20',
        headers=['X-Twice: 1', 'X-Twice: 2'])
    assert status == 200
    env = json.loads(body.decode())
    assert env['REQUEST_METHOD'] == 'GET'
    assert env['SCRIPT_NAME'] == ''
    assert env['PATH_INFO'] == '/caf\xc3\xa9/x y'  # unquoted, latin-1 decoded
    assert env['QUERY_STRING'] == 'a=1&b=%20'
    assert env['SERVER_PORT'] == str(server.port)
    assert env['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert env['REMOTE_ADDR'] == '127.0.0.1'
    assert env['HTTP_HOST'] == 'localhost'
    assert env['HTTP_X_TWICE'] == '1,2'
    assert env['wsgi.multiprocess'] is True
    assert env['wsgi.multithread'] is False
    assert env['body_length'] == 0
    assert headers['connection'] == 'close'
    assert headers['content-type'] == 'application/json'
    assert_dated_and_signed(headers)
    server.wait_output('app: response closed')
    server.wait_output(r'"GET /caf%C3%A9/x%20y\?a=1&b=%20 HTTP/1.1" 200')
    assert_clean(server)


def test_head_sends_headers_but_no_body(wsgi):
    server = wsgi('validated:app')
    status, headers, body = request(server.port, method='HEAD', target='/head')
    assert (status, body) == (200, b'')
    assert int(headers['content-length']) > 0  # what a GET would have sent
    server.wait_output('app: response closed')
    assert_clean(server)


@pytest.mark.skipif(not shutil.which('curl'), reason='curl is not installed')
def test_post_of_a_large_body_through_curl(wsgi, tmp_path):
    server = wsgi('validated:app')
    data = os.urandom(300 * 1024)
    (tmp_path / 'body').write_bytes(data)
    out = subprocess.run(
        ['curl', '-sS', '-v', '--max-time', str(DEADLINE),
         '--data-binary', '@body',
         '-H', 'Content-Type: application/octet-stream',
         '-H', 'Expect: 100-continue',
         'http://127.0.0.1:%d/upload' % server.port],
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert out.returncode == 0, out.stderr
    env = json.loads(out.stdout.decode())
    assert env['REQUEST_METHOD'] == 'POST'
    assert env['CONTENT_TYPE'] == 'application/octet-stream'
    assert env['CONTENT_LENGTH'] == str(len(data))
    assert env['body_length'] == len(data)
    assert env['body_sha256'] == hashlib.sha256(data).hexdigest()
    # Asked to 'Expect: 100-continue' (older curls do for bodies over 1 kB,
    # newer over 1 MB), the server says go ahead rather than let curl stall
    # a second.
    assert b'HTTP/1.1 100 Continue' in out.stderr
    server.wait_output('app: response closed')
    assert_clean(server)


def test_body_read_line_by_line_with_bare_lf_request(wsgi):
    server = wsgi('validated:app')
    body = b'one\ntwo\nthree'
    raw = (b'POST /lines HTTP/1.1\nHost: x\nContent-Length: %d\n\n%s'
           % (len(body), body))
    status, headers, reply = exchange(server.port, raw)
    env = json.loads(reply.decode())
    assert status == 200 and env['body_start'] == 'one\ntwo\nthree'
    assert_clean(server)


def test_write_callable_and_exc_info(wsgi):
    server = wsgi('validated:app')
    assert request(server.port, target='/write')[2] == (
        b'written then returned\n')
    status, headers, body = request(server.port, target='/exc_info')
    assert (status, body) == (503, b'sorry\n')
    assert_clean(server)


def test_the_app_can_wait_for_its_own_subprocess(wsgi):
    server = wsgi('validated:app')
    # The child resets SIGCHLD: the server's reaper does not steal the exit
    # status.
    assert json.loads(request(server.port, target='/subprocess')[2].decode())[
        'body_start'] == '3'


# Concurrency, exactly as 3g --------------------------------------------------

def test_an_app_that_sleeps_serves_many_at_once(wsgi):
    server = wsgi('validated:sleepy')
    sleep, n = 0.5, 6
    started = time.monotonic()
    clients = [connect(server.port) for _ in range(n)]
    for sock in clients:
        sock.sendall(b'GET /?%s HTTP/1.1\r\nHost: x\r\n\r\n'
                     % str(sleep).encode())
    for sock in clients:
        assert parse(read_until_eof(sock))[2] == b'slept\n'  # and FIN
        sock.close()
    elapsed = time.monotonic() - started
    assert elapsed < sleep * n / 2, (
        '%d requests took %.1f s: not concurrent' % (n, elapsed))
    wait_for(lambda: not server.children(), what='every child to be reaped')


def test_128_clients_leave_no_zombies(wsgi, python):
    server = wsgi('hello:app')
    out = run_client3(python, server.port, '--max-clients', 128,
                      '--read-timeout', 20)
    assert out.returncode == 0, out.stderr  # every response read up to its FIN
    # no zombie left: children() counts them too
    wait_for(lambda: not server.children(), what='every child to be reaped')
    server.wait_in_accept()
    assert server.alive()


def test_fork_failure_gets_a_503_and_the_parent_serves_on(serve_capped):
    """3g's parent dies here (test_parent_dies_when_fork_fails)."""
    server = serve_capped('webserver3i.py', app='validated:app',
                             nproc=1 + 3)
    silent = [connect(server.port) for _ in range(3)]  # three children wait
    wait_for(lambda: len(server.children()) == 3, what='3 children')
    for _ in range(2):  # no process left for these: 503; the parent lives on
        status, headers, body = exchange(server.port, b'')
        assert (status, headers['retry-after'], body) == (
            503, '1', b'503 Service Unavailable\n')
        assert_dated_and_signed(headers)
    server.wait_output(r'WSGIServer: Resource temporarily unavailable; '
                       r'retrying in 0.1 s', count=2)
    for sock in silent:  # the children end, and there is room again
        sock.close()
    wait_for(lambda: not server.children(), what='the children to end')
    assert request(server.port)[0] == 200
    assert server.alive() and 'Traceback' not in server.output


def test_out_of_descriptors_the_parent_waits_and_serves_the_queue(wsgi):
    import resource
    server = wsgi('validated:app')
    server.wait_in_accept()
    hard_limit = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)[1]
    # As `prlimit --nofile` would: accept() now needs one more than allowed.
    used = len(os.listdir('/proc/%d/fd' % server.pid))
    soft, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE,
                                  (used, hard_limit))
    queued = [connect(server.port) for _ in range(3)]
    for sock in queued:
        sock.sendall(b'GET /queued HTTP/1.1\r\nHost: x\r\n\r\n')
    server.wait_output(r'WSGIServer: Too many open files; retrying in 0.1 s',
                       count=2)
    # It waits, and does not spin: over half a second, a few tries (one per
    # 0.1 s) and a fraction of a CPU, where a loop without a pause makes
    # thousands and takes a whole CPU.
    cpu = cpu_seconds(server.pid)
    tries = server.output.count('Too many open files')
    time.sleep(0.5)  # the window measured, not a wait for something
    assert server.output.count('Too many open files') - tries <= 10
    assert cpu_seconds(server.pid) - cpu < 0.25
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (soft, hard))
    for sock in queued:  # the queue is served once descriptors are back
        assert read_until_eof(sock).startswith(b'HTTP/1.1 200 OK')
        sock.close()
    assert server.alive() and 'Traceback' not in server.output


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf('SC_CLK_TCK')


def test_fin_comes_right_after_the_answer_though_the_body_was_not_read(wsgi):
    server = wsgi('hello:app')  # it never reads wsgi.input
    with connect(server.port) as sock:
        body = b'x' * 100000
        sock.sendall(b'POST / HTTP/1.1\r\nHost: x\r\n'
                     b'Content-Length: %d\r\n\r\n%s' % (len(body), body))
        assert read_until_eof(sock).endswith(b'Hello, World!\n')
        # FIN arrived while the child still drains the unread body (the
        # client has not closed): the answer did not wait for the draining.
        # (The child may still be on its way to recv(): wait, briefly.)
        child, = server.children()
        wait_for(lambda: wchan(child).startswith(
            ('wait_woken', 'poll_schedule_timeout')), timeout=1,
            what='the child to drain the input')


def test_concurrency_code_is_3g_plus_what_keeps_the_parent_alive():
    def function(name, function_name):
        for node in ast.walk(ast.parse(open(script(name)).read())):
            if (isinstance(node, ast.FunctionDef) and
                    node.name == function_name):
                return ast.dump(node)

    assert function('webserver3g.py', 'grim_reaper') == function(
        'webserver3i.py', 'grim_reaper')
    # serve_forever's loop is 3g's, every line in order, with only additions
    # (the README shows this diff): the 3g lines stand in 3i as they are,
    # fork() inside a try, and Part 2's handler name for the request.
    g = [line.strip() for line in diffs.serve_forever_loop('webserver3g.py')]
    h = [line.strip() for line in diffs.serve_forever_loop('webserver3i.py')]
    g[g.index('handle_request(client_connection)')] = (
        'self.handle_one_request(client_connection, client_address)')
    rest = iter(h)
    assert all(line in rest for line in g), 'a line of 3g is missing from 3i'
    assert len(h) - len(g) <= 9, \
        'more added to 3i than the fork and accept failures'


def test_a_get_reads_top_down():
    # One GET followed from handle_one_request to its access line (in this
    # process, see tools/calls.py): the reader seldom scrolls back up for
    # the code it calls, and meets the fork() early in the file.
    measure = calls.measure(script('webserver3i.py'))
    assert measure.response.startswith(b'HTTP/1.1 200 OK\r\n'), measure.response
    assert '"GET /hello HTTP/1.1" 200 14' in measure.log, measure.log
    upward = measure.upward
    assert len(upward) <= 3, '%d of %d calls go up the file:\n%s' % (
        len(upward), len(measure.calls), '\n'.join(map(str, upward)))
    assert measure.fork_fraction <= 0.4, 'the first os.fork() is on line %d of %d' % (
        measure.fork_line, measure.lines)


# Bad input gets an answer; the parent keeps serving --------------------------

def bad(name, raw, status):
    return pytest.param(raw, status, id=name)


H = b'Host: x'  # HTTP/1.1 needs exactly one


def head(line=b'GET / HTTP/1.1', *fields, body=b''):
    """A request: its line, then fields (Host: x unless fields start with
    None)."""
    fields = list(fields[1:]) if fields[:1] == (None,) else [H] + list(fields)
    return b'\r\n'.join([line] + fields) + b'\r\n\r\n' + body


def post(*fields, body=b''):
    return head(b'POST / HTTP/1.1', *fields, body=body)


TE_CHUNKED = b'Transfer-Encoding: chunked'


def chunked(*lines, te=b'chunked', fields=(), line=b'POST / HTTP/1.1'):
    """A request with a chunked body: its lines, each ended with CRLF."""
    return head(line, b'Transfer-Encoding: ' + te, *fields,
                body=b''.join(text + b'\r\n' for text in lines))


BAD_REQUESTS = [
    # the request line (RFC 9112 §3): three words, single spaces, a known
    # version
    bad('garbage', b'GARBAGE\r\n\r\n', 400),
    bad('extra-word', head(b'GET / HTTP/1.1 extra'), 400),
    bad('two-spaces', head(b'GET  / HTTP/1.1'), 400),
    bad('tabs-between-words', head(b'GET\t/\tHTTP/1.1'), 400),
    bad('x1c-between-words', head(b'GET\x1c/admin\x1cHTTP/1.1'), 400),
    bad('x85-between-words', head(b'GET\x85/admin\x85HTTP/1.1'), 400),
    bad('nbsp-between-words', head(b'GET\xa0/admin\xa0HTTP/1.1'), 400),
    bad('not-http', head(b'GET / SPDY/3'), 400),
    bad('http-2.0', head(b'GET / HTTP/2.0'), 505),
    bad('http-1.2', head(b'GET / HTTP/1.2'), 505),
    bad('bad-method', head(b'G(E)T / HTTP/1.1'), 400),
    bad('lower-case-method', head(b'get / HTTP/1.1'), 400),
    bad('method-too-long', head(b'A' * 21 + b' / HTTP/1.1'), 400),
    bad('target-too-long', head(b'GET /' + b'a' * 10000 + b' HTTP/1.1'), 414),
    # the target (RFC 9112 §3.2): origin-form, absolute-form, OPTIONS *; no
    # CONNECT
    bad('relative-target', head(b'GET foo/bar HTTP/1.1'), 400),
    bad('authority-target', head(b'GET example.com:443 HTTP/1.1'), 400),
    bad('scheme-only-target', head(b'GET foo:/admin HTTP/1.1'), 400),
    bad('star-without-options', head(b'GET * HTTP/1.1'), 400),
    bad('bad-absolute-target', head(b'GET s://]ufd/: HTTP/1.1'), 400),
    bad('bad-ipv6-target', head(b'GET http://[::1/ HTTP/1.1'), 400),
    bad('ftp-target', head(b'GET ftp://example.com/ HTTP/1.1'), 400),
    bad('fragment', head(b'GET /page#top HTTP/1.1'), 400),
    bad('nul-in-target', head(b'GET /a\x00b HTTP/1.1'), 400),
    bad('del-in-target', head(b'GET /a\x7fb HTTP/1.1'), 400),
    bad('raw-utf8-in-target', head(b'GET /caf\xc3\xa9 HTTP/1.1'), 400),
    bad('connect', head(b'CONNECT example.com:443 HTTP/1.1'), 501),
    # header fields (RFC 9112 §5, RFC 9110 §5.5)
    bad('header-too-large', head(b'GET / HTTP/1.1', b'X-Big: ' + b'a' * 70000),
        431),
    bad('too-many-headers', head(b'GET / HTTP/1.1', *[b'X-Many: a'] * 200),
        431),
    # Host and 100 more: the 101st line is one too many, dropped ones count
    bad('101-headers', head(b'GET / HTTP/1.1', *[b'X-Many: a'] * 100), 431),
    bad('101-headers-dropped', head(b'GET / HTTP/1.1', *[b'X_Many: a'] * 100),
        431),
    bad('no-colon', head(b'GET / HTTP/1.1', b'no colon here'), 400),
    bad('space-before-colon', head(b'GET / HTTP/1.1', None, b'Host : x'), 400),
    bad('obs-fold', head(b'GET / HTTP/1.1', b'X-A: 1', b'  folded'), 400),
    bad('nul-in-value', head(b'GET / HTTP/1.1', b'X-A: a\x00b'), 400),
    bad('bare-cr-in-value', head(b'GET / HTTP/1.1', b'X-A: a\rb'), 400),
    bad('bel-in-value', head(b'GET / HTTP/1.1', b'X-A: a\x07b'), 400),
    bad('esc-in-value', head(b'GET / HTTP/1.1', b'X-A: \x1b[31mred'), 400),
    bad('del-in-value', head(b'GET / HTTP/1.1', b'X-A: a\x7fb'), 400),
    # Host (RFC 9112 §3.2): exactly one in HTTP/1.1, and a valid one
    bad('no-host', head(b'GET / HTTP/1.1', None), 400),
    bad('two-hosts', head(b'GET / HTTP/1.1', None, b'Host: a.example',
                          b'Host: evil.example'), 400),
    bad('bad-host', head(b'GET / HTTP/1.1', None, b'Host: a/b@c'), 400),
    # the body's framing (RFC 9110 §8.6, RFC 9112 §6)
    bad('length-letters', post(b'Content-Length: abc'), 400),
    bad('length-negative', post(b'Content-Length: -1'), 400),
    bad('length-superscript', post('Content-Length: \u00b2'.encode('utf-8')),
        400),
    bad('length-vt', post(b'Content-Length: \x0b1', body=b'x'), 400),
    bad('length-nbsp', post(b'Content-Length: 1\xa0', body=b'x'), 400),
    bad('length-list', post(b'Content-Length: 1, 1', body=b'x'), 400),
    bad('two-lengths', post(b'Content-Length: 1', b'Content-Length: 2',
                            body=b'ab'), 400),
    bad('two-equal-lengths', post(b'Content-Length: 1', b'Content-Length: 1',
                                  body=b'a'), 400),
    bad('two-content-types', post(b'Content-Type: a/b', b'Content-Type: c/d'),
        400),
    bad('body-too-large', post(b'Content-Length: 999999999'), 413),
    # chunked bodies: the framing (RFC 9112 §6.1, §6.3)
    bad('chunked-and-length', chunked(b'3', b'abc', b'0', b'',
                                      fields=[b'Content-Length: 3']), 400),
    bad('length-and-chunked', post(b'Content-Length: 3', TE_CHUNKED,
                                   body=b'3\r\nabc\r\n0\r\n\r\n'), 400),
    bad('chunked-in-http-1.0', head(b'POST / HTTP/1.0', TE_CHUNKED,
                                    body=b'0\r\n\r\n'), 400),
    bad('chunked-not-final', chunked(b'0', b'', te=b'chunked, gzip'), 400),
    bad('gzip-alone', post(b'Transfer-Encoding: gzip', body=b'abc'), 400),
    bad('chunked-twice', chunked(b'0', b'', te=b'chunked, chunked'), 400),
    bad('chunked-in-two-fields', chunked(b'0', b'', fields=[TE_CHUNKED]),
        400),
    bad('chunked-with-a-parameter', chunked(b'0', b'', te=b'chunked;q=1'),
        400),
    bad('gzip-then-chunked', chunked(b'0', b'', te=b'gzip, chunked'), 501),
    # chunked bodies: the chunks (RFC 9112 §7.1)
    bad('chunk-size-not-hex', chunked(b'x', b'abc', b'0', b''), 400),
    bad('chunk-size-0x', chunked(b'0x3', b'abc', b'0', b''), 400),
    bad('chunk-size-negative', chunked(b'-3', b'abc', b'0', b''), 400),
    bad('chunk-size-then-space', chunked(b'3 ', b'abc', b'0', b''), 400),
    bad('chunk-size-17-digits', chunked(b'0' * 16 + b'3', b'abc', b'0', b''),
        400),
    bad('chunk-size-bare-lf', post(TE_CHUNKED, body=b'3\nabc\r\n0\r\n\r\n'),
        400),
    bad('chunk-ext-bad-value', chunked(b'3;a=b c', b'abc', b'0', b''), 400),
    bad('chunk-ext-open-quote', chunked(b'3;a="b', b'abc', b'0', b''), 400),
    bad('chunk-ext-too-long', chunked(b'3;a=' + b'b' * 5000, b'abc', b'0',
                                      b''), 400),
    bad('chunk-data-too-long', chunked(b'3', b'abcd', b'0', b''), 400),
    bad('chunk-data-bare-lf', post(TE_CHUNKED, body=b'3\r\nabc\n0\r\n\r\n'),
        400),
    bad('chunk-data-no-crlf', post(TE_CHUNKED, body=b'3\r\nabcXY0\r\n\r\n'),
        400),
    bad('chunked-too-large', post(TE_CHUNKED, body=b'a00001\r\n'), 413),
    bad('chunks-too-large', chunked(b'1', b'a', b'a00000', b''), 413),
    bad('nul-in-trailer', chunked(b'3', b'abc', b'0', b'X-T: a\x00b', b''),
        400),
    bad('trailer-too-large', chunked(b'0', b'X-Big: ' + b'a' * 70000, b''),
        431),
] + [
    # trailer fields needed before the body (RFC 9110 §6.5.1), as gunicorn
    bad('trailer-' + name.lower().decode(),
        chunked(b'3', b'abc', b'0', name + b': 1', b''), 400)
    for name in [b'Content-Length', b'transfer-encoding', b'Trailer', b'HOST',
                 b'Authorization', b'TE']
] + [
    # userinfo in an absolute-form target (RFC 9110 §4.2.4)
    bad('userinfo-in-target',
        head(b'GET http://user:pass@example.com/ HTTP/1.1'), 400),
]


@pytest.fixture(scope='module')
def servers():
    """Live 3i servers, one per interpreter and app, shared by the tests
    that only send requests: servers(python, app) starts one or reuses it."""
    pool = {}

    def get(python, app):
        server = pool.get((python.path, app))
        if server is None or not server.alive():
            server = pool[python.path, app] = Server(
                python, 'webserver3i.py', args=[app], cwd=APPS).started()
        return server

    yield get
    for server in pool.values():
        server.stop()


@pytest.fixture
def shared(servers, python):
    server = servers(python, 'validated:app')
    before = len(server.output)
    yield server
    during = server.output[before:]  # what this test made it print
    assert server.alive() and 'Traceback' not in during, during


@pytest.mark.parametrize('raw, expected', BAD_REQUESTS)
def test_bad_request_gets_its_status(shared, raw, expected):
    status, headers, body = exchange(shared.port, raw)
    assert status == expected
    assert body.startswith(str(expected).encode())
    assert int(headers['content-length']) == len(body)
    assert headers['connection'] == 'close'
    assert_dated_and_signed(headers)  # as the app's answers have
    # The access line counts the error body, and the parent serves on.
    shared.wait_output(r'" %d %d$' % (expected, len(body)))
    assert request(shared.port)[0] == 200


def test_head_gets_no_body_even_with_an_error(shared):
    status, headers, body = exchange(
        shared.port, b'HEAD / HTTP/1.1\r\n\r\n')  # no Host
    assert (status, body) == (400, b'')
    assert int(headers['content-length']) > 0  # what a GET would have got


def environ_for(port, raw):
    status, headers, body = exchange(port, raw)
    assert status == 200, body
    return json.loads(body.decode())


def test_empty_lines_before_the_request_line_are_ignored(shared):
    # RFC 9112 §2.2: a client may send a CRLF after a previous POST body
    env = environ_for(shared.port, b'\r\n\r\n' + head(b'GET /after HTTP/1.1'))
    assert env['PATH_INFO'] == '/after'


def test_absolute_form_target_and_its_authority(shared):
    env = environ_for(shared.port,
                      b'GET http://example.com:8080/p%20q?x=1 HTTP/1.1\r\n'
                      b'Host: other.example\r\n\r\n')
    assert (env['PATH_INFO'], env['QUERY_STRING']) == ('/p q', 'x=1')
    # RFC 9112 §3.2.2: the target's authority, not the Host field
    assert env['HTTP_HOST'] == 'example.com:8080'


def test_options_star_and_http_1_0_without_host(shared):
    assert environ_for(shared.port, head(b'OPTIONS * HTTP/1.1'))[
        'PATH_INFO'] == ''
    assert environ_for(shared.port, b'GET /old HTTP/1.0\r\n\r\n')[
        'SERVER_PROTOCOL'] == 'HTTP/1.0'


def test_field_names_with_underscores_are_dropped(shared):
    # X_Auth would pose as X-Auth, Content_Length as Content-Length (the
    # class of CVE-2015-0219): the app sees only the dashed fields.
    env = environ_for(shared.port, post(
        b'X-Auth: a', b'X_Auth: b', b'Content-Length: 5', b'Content_Length: 0',
        b'Content_Type: evil', body=b'hello'))
    assert env['HTTP_X_AUTH'] == 'a'
    assert (env['CONTENT_LENGTH'], env['body_length'],
            env['CONTENT_TYPE']) == ('5', 5, None)


def test_a_head_of_100_field_lines_is_served(shared):
    env = environ_for(shared.port, head(b'GET / HTTP/1.1', *[b'X-Many: a'] * 99))
    assert env['HTTP_HOST'] == 'x'  # Host, and 99 more


def test_field_values_lose_only_spaces_and_tabs_around_them(shared):
    env = environ_for(shared.port, b'GET / HTTP/1.1\r\nHost: \t x \t\r\n'
                      b'X-Auth: caf\xe9 au lait\r\n\r\n')
    assert env['HTTP_HOST'] == 'x'
    # obs-text, read as latin-1 (PEP 3333)
    assert env['HTTP_X_AUTH'] == 'caf\xe9 au lait'


def test_access_log_escapes_client_bytes(shared):
    exchange(shared.port, head(b'GET /\x1b[2J HTTP/1.1'))
    exchange(shared.port, head(b'GET / HTTP/1.1\rFAKE 200'))
    shared.wait_output(r'"GET /\\x1b\[2J HTTP/1.1" 400')
    shared.wait_output(r'"GET / HTTP/1.1\\x0dFAKE 200" 400')
    assert '\x1b' not in shared.output and '\r' not in shared.output


def test_a_chunked_body_reaches_the_app_decoded_with_its_length(shared):
    # Extensions are ignored, trailer fields dropped; the app gets the
    # bytes, their length, and no Transfer-Encoding (RFC 9112 §7.1).
    env = environ_for(shared.port, chunked(
        b'5;name=value', b'hello', b'1 ; a = "q\\"d" ; b', b' ',
        b'00005', b'world', b'000;end', b'X-Trailer: dropped', b'',
        te=b'Chunked,'))
    assert env['body_start'] == 'hello world'
    assert (env['CONTENT_LENGTH'], env['body_length']) == ('11', 11)
    assert env['HTTP_TRANSFER_ENCODING'] is None
    assert env['HTTP_X_TRAILER'] is None
    assert env['wsgi.input_terminated'] is True


def test_a_chunked_upload_waits_for_100_continue(shared):
    with connect(shared.port) as sock:
        sock.sendall(b'PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n'
                     + TE_CHUNKED + b'\r\n\r\n')
        assert read_at_least(sock, b'\r\n\r\n').startswith(
            b'HTTP/1.1 100 Continue\r\n\r\n')
        sock.sendall(b'3\r\nabc\r\n0\r\n\r\n')
        answer = read_until_eof(sock)
    assert answer.startswith(b'HTTP/1.1 200 OK\r\n')
    assert json.loads(answer.partition(b'\r\n\r\n')[2].decode())[
        'body_start'] == 'abc'


def peak_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'^VmHWM:\s+(\d+)', f.read(), re.M).group(1))


def test_a_10_mib_chunked_upload_never_sits_in_memory_whole(shared):
    # The app reads the body in 64 KiB pieces and says its peak RSS: a
    # chunked body costs the child about what a sized one does (it waits
    # on disk past 1 MiB), not its 10 MiB.
    size = 10 * 1024 * 1024
    data = os.urandom(64 * 1024) * (size // (64 * 1024))
    line = b'PUT /digest HTTP/1.1'
    uploads = {
        'sized': head(line, b'Content-Length: %d' % size, body=data),
        'chunked': chunked(*[b'10000\r\n' + data[i:i + 65536]
                             for i in range(0, size, 65536)] + [b'0', b''],
                           line=line)}
    parent, peaks = peak_rss_kib(shared.pid), {}
    for framing, raw in uploads.items():
        env = environ_for(shared.port, raw)
        assert env['body_length'] == size
        assert env['body_sha256'] == hashlib.sha256(data).hexdigest()
        peaks[framing] = env['peak_rss_kib']
    assert peaks['chunked'] - peaks['sized'] < 4 * 1024, peaks
    assert peak_rss_kib(shared.pid) - parent < 1024  # the parent: untouched


def test_too_large_body_is_refused_and_the_client_is_not_reset(wsgi):
    server = wsgi('validated:app')
    with connect(server.port) as sock:
        sock.sendall(b'POST / HTTP/1.1\r\nHost: x\r\n'
                     b'Content-Length: 20000000\r\n\r\n')
        answer = read_at_least(sock, b'413')
        # A client that keeps sending its body after the answer is not reset:
        # the server drains the input before it closes (a lingering close).
        sock.sendall(b'x' * 8000000)
        sock.shutdown(socket.SHUT_WR)
        answer += read_until_eof(sock)
    assert answer.startswith(b'HTTP/1.1 413 ')


def test_app_exception_is_a_500_with_the_traceback_on_stderr(wsgi):
    server = wsgi('validated:failing')
    status, headers, body = request(server.port)
    assert status == 500
    assert_dated_and_signed(headers)
    server.wait_output(r'RuntimeError: the app is broken')
    server.wait_output(r'"GET / HTTP/1.1" 500')
    assert server.alive()


def test_silent_and_half_sent_clients_time_out(wsgi):
    server = wsgi('validated:app', env={'REQUEST_TIMEOUT': '0.5'})
    silent = connect(server.port)
    half = connect(server.port)
    half.sendall(b'POST / HTTP/1.1\r\nContent-Le')
    wait_for(lambda: len(server.children()) == 2, what='two children')
    # Each child gives up after REQUEST_TIMEOUT, answers 408 and exits.
    for sock in silent, half:
        status, headers, body = parse(read_until_eof(sock))
        assert status == 408
        assert_dated_and_signed(headers)
    silent.close(), half.close()
    wait_for(lambda: not server.children(), what='the children to give up')
    assert request(server.port)[0] == 200


def test_the_request_head_has_one_deadline_however_slowly_it_drips(wsgi):
    server = wsgi('validated:app', env={'REQUEST_TIMEOUT': '0.5'})
    with connect(server.port) as sock:
        sent = time.monotonic()
        sock.sendall(b'GET / HTTP/1.1\r\n')
        sock.settimeout(0.2)
        answer = b''
        for byte in itertools.cycle(b'X-Drip: 1\r\n'):  # a byte every 0.2 s
            assert time.monotonic() - sent < DEADLINE, \
                'the dripping client was never cut off'
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(65536)
                break
            except socket.timeout:
                continue
        answer += read_until_eof(sock)
    assert answer.startswith(b'HTTP/1.1 408 ')
    assert time.monotonic() - sent < 0.5 + 5  # REQUEST_TIMEOUT, and a margin


def test_a_slow_reader_that_keeps_reading_gets_every_byte(wsgi):
    # The answer takes the server longer than REQUEST_TIMEOUT to send, yet
    # the client is never silent that long: it must get every byte.
    # far more than the kernel's buffers hold
    size, timeout = 32 * 1024 * 1024, 0.5
    server = wsgi('validated:big', env={'REQUEST_TIMEOUT': str(timeout)})
    with connect(server.port) as sock:
        sock.sendall(b'GET /?%d HTTP/1.1\r\nHost: x\r\n\r\n' % size)
        received, started = 0, time.monotonic()
        while True:  # at most 256 KiB every 8 ms, 32 MB/s: 1 s or more
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received += len(chunk)
            time.sleep(0.008)
    taken = time.monotonic() - started
    assert taken > 2 * timeout, \
        'read in %.2f s: too fast to show anything' % taken
    server.wait_output(r'" 200 %d$' % size)
    assert received > size


def test_a_reader_that_stops_is_reset_not_sent_a_clean_end(wsgi):
    server = wsgi('validated:big', env={'REQUEST_TIMEOUT': '0.5'})
    with connect(server.port) as sock:
        sock.sendall(b'GET /?%d HTTP/1.1\r\nHost: x\r\n\r\n'
                     % (32 * 1024 * 1024))
        # Read nothing until the child gives up on this client ...
        server.wait_output(
            r'" 200 \d+ \(client stalled: took nothing for 0.5 s\)$')
        # ... then the client can tell the body was cut short: no
        # Content-Length to compare with, but a reset rather than a FIN.
        with pytest.raises(ConnectionResetError):
            read_until_eof(sock)
    assert 'Traceback' not in server.output


def test_an_app_that_fails_midway_resets_the_connection(wsgi):
    server = wsgi('validated:midway')
    with connect(server.port) as sock:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        server.wait_output(r'RuntimeError: the app broke midway')
        with pytest.raises(ConnectionResetError):
            read_until_eof(sock)


UPLOAD_HEAD = b'POST /upload HTTP/1.1\r\nHost: x\r\n'
# A body cut off: after 10 of its 1000 bytes, sized or chunked; or after
# its last chunk, within the trailer section
HALF_SENT = {
    'sized': UPLOAD_HEAD + b'Content-Length: 1000\r\n\r\n' + b'x' * 10,
    'chunked': UPLOAD_HEAD + TE_CHUNKED + b'\r\n\r\n3e8\r\n' + b'x' * 10,
    'trailers': UPLOAD_HEAD + TE_CHUNKED + b'\r\n\r\n3\r\nabc\r\n0\r\n'
                b'X-Checksum: 1\r\n',
}


@pytest.mark.parametrize('app', ['validated:app', 'flaskapp:app'])
def test_a_stall_mid_upload_gets_a_408_and_no_traceback(wsgi, python, app):
    if app.startswith('flask'):
        require('flask', python)
    server = wsgi(app, env={'REQUEST_TIMEOUT': '0.5'})
    clients = [connect(server.port) for framing in HALF_SENT]
    for sock, framing in zip(clients, HALF_SENT):  # both stall at once
        sock.sendall(HALF_SENT[framing])
    for sock in clients:
        assert read_until_eof(sock).startswith(b'HTTP/1.1 408 ')
        sock.close()
    server.wait_output(r'"POST /upload HTTP/1.1" 408 \d+ '
                       r'\(client stalled: no body bytes', count=len(HALF_SENT))
    assert 'Traceback' not in server.output


@pytest.mark.parametrize('framing', list(HALF_SENT))
@pytest.mark.parametrize('how', ['reset', 'close'])
def test_a_client_gone_mid_upload_is_one_quiet_line(wsgi, how, framing):
    server = wsgi('validated:app')
    sock = connect(server.port)
    sock.sendall(HALF_SENT[framing])
    wait_for(lambda: server.children(), what='a child')
    if how == 'reset':  # SO_LINGER with a zero timeout: close() sends a reset
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack('ii', 1, 0))
        sock.close()
        server.wait_output(r'"POST /upload HTTP/1.1" - 0 \(client gone: ')
    else:  # EOF mid-body: the same in all three places, no answer (RFC 9112 §8)
        sock.shutdown(socket.SHUT_WR)
        assert read_until_eof(sock) == b''
        sock.close()
        server.wait_output(r'"POST /upload HTTP/1.1" - 0 \(client gone: EOF %s'
                           % {'sized': '990 bytes before its end',
                              'chunked': 'before the last chunk',
                              'trailers': 'within the trailer section'}[framing])
    assert 'Traceback' not in server.output


def test_client_that_sends_nothing_and_closes(wsgi):
    server = wsgi('validated:app')
    connect(server.port).close()
    server.wait_output(r'"-" - 0')
    wait_for(lambda: not server.children(), what='the child to exit')
    assert 'Traceback' not in server.output


def test_client_reset_mid_response_ends_the_child_quietly(wsgi):
    server = wsgi('validated:endless')
    sock = connect(server.port)
    sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    assert sock.recv(65536).startswith(b'HTTP/1.1 200 OK')
    # SO_LINGER with a zero timeout: close() sends a TCP reset
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))
    sock.close()
    server.wait_output(r'"GET / HTTP/1.1" 200 \d+ \(client gone')
    wait_for(lambda: not server.children(), what='the child to exit')
    assert 'Traceback' not in server.output
    server.wait_in_accept()
    assert server.alive()


def test_dotted_module_imported_from_the_working_directory(serve):
    # cwd: the repo
    server = serve('webserver3i.py', args=['tests.apps.validated:app'])
    assert request(server.port)[0] == 200


USAGE = 'Name the WSGI app to serve: module:callable, as hello:app'


@pytest.mark.parametrize('args, message', [
    ([], USAGE),
    (['validated'], USAGE),
    (['nosuchmodule:app'],
     "Cannot import 'nosuchmodule': No module named 'nosuchmodule'"),
    (['validated:nosuchapp'], "No callable 'nosuchapp' in module 'validated'"),
])
def test_bad_arguments_get_one_clear_line(python, args, message):
    out = run_3h(python, args)
    assert (out.returncode, out.stdout, out.stderr) == (
        1, '', message + '\n')


@pytest.mark.parametrize('flag', ['-h', '--help'])
def test_help_prints_the_usage_and_the_settings(python, flag):
    out = run_3h(python, [flag])
    assert (out.returncode, out.stderr) == (0, '')
    assert out.stdout.startswith('usage: webserver3i.py [-h] module:callable\n')
    for setting in ('HOST', 'PORT', 'REQUEST_TIMEOUT', 'MAX_BODY_BYTES'):
        assert re.search(r'^  %s  +\w' % setting, out.stdout, re.M), setting


def test_python_2_is_told_in_one_line_what_it_needs():
    python = python2()
    if python is None:
        pytest.skip('no Python 2.7 on this machine')
    out = run_3h(python, ['validated:app'])
    assert (out.returncode, out.stdout) == (1, '')
    assert re.match(r'webserver3i\.py needs Python 3\.6\+, not 2\.7\.\d+\n\Z',
                    out.stderr), out.stderr


def test_the_example_in_the_file_header_works_from_the_repo_root(serve, python):
    require('flask', python)
    with open(script('webserver3i.py')) as f:
        header = ''.join(itertools.takewhile(lambda line: line.startswith('#'), f))
    example, = re.findall(r'python webserver3i\.py ([\w.]+:\w+)\s', header)
    server = serve('webserver3i.py', args=[example])  # cwd: the repo root
    assert request(server.port)[:3:2] == (200, b'Hello from Flask')


def test_access_lines_stay_whole_on_a_pipe_under_load(python):
    # PYTHONUNBUFFERED=1 (as under Docker) and stdout a pipe: each line must
    # go out in one write, or the lines of children that finish together run
    # into each other. 128 children sleep 0.2 s, then log at once.
    proc = subprocess.Popen(
        [python.path, script('webserver3i.py'), 'validated:sleepy'], cwd=APPS,
        env=dict(os.environ, HOST='127.0.0.1', PORT='0', PYTHONUNBUFFERED='1'),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True)
    # A line that never comes must not hang the test: kill the server then
    # (readline() gets EOF, and the test fails on the missing line).
    deadline = threading.Timer(DEADLINE, os.killpg, (proc.pid, signal.SIGKILL))
    deadline.start()
    try:
        port = int(re.search(rb'port (\d+)', proc.stdout.readline()).group(1))
        clients = [connect(port) for _ in range(128)]
        for sock in clients:
            sock.sendall(b'GET /?0.2 HTTP/1.1\r\nHost: x\r\n\r\n')
        for sock in clients:
            assert read_until_eof(sock).startswith(b'HTTP/1.1 200 ')
            sock.close()
        lines = [proc.stdout.readline() for _ in range(1 + 128)][1:]
    finally:
        deadline.cancel()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(DEADLINE)
        proc.stdout.close()
    access = re.compile(rb'\[pid \d+\] 127\.0\.0\.1 "GET /\?0\.2 HTTP/1\.1" 200 \d+\n\Z')
    assert [line for line in lines if not access.match(line)] == []


@pytest.mark.parametrize('setting, value, message', [
    ('REQUEST_TIMEOUT', value, 'a number of seconds above 0')
    for value in ['soon', '-1', '0', 'nan', 'inf']] + [
    ('MAX_BODY_BYTES', value, 'a whole number of bytes')
    for value in ['-1', '1.5', 'lots']])
def test_bad_setting_gets_one_clear_line(python, setting, value, message):
    out = run_3h(python, ['validated:app'], {setting: value})
    assert (out.returncode, out.stderr) == (
        1, '{0} must be {1}, not {2!r}\n'.format(setting, message, value))


def run_3h(python, args, env=None):
    """3i run to its end, as it refuses to start: the finished process."""
    return subprocess.run(
        [python.path, script('webserver3i.py')] + args, cwd=APPS,
        env=dict(os.environ, PORT='0', **(env or {})),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=DEADLINE)


def test_max_body_bytes_bounds_sized_and_chunked_bodies(wsgi):
    server = wsgi('validated:app', env={'MAX_BODY_BYTES': '100'})
    assert request(server.port, 'POST', body=b'x' * 100)[0] == 200
    assert request(server.port, 'POST', body=b'x' * 101)[0] == 413
    assert exchange(server.port, chunked(
        b'40', b'x' * 64, b'24', b'x' * 36, b'0', b''))[0] == 200
    assert exchange(server.port, chunked(
        b'40', b'x' * 64, b'25', b'x' * 37, b'0', b''))[0] == 413


def test_default_host_is_loopback_only(serve):
    server = serve('webserver3i.py', app='hello:app', env={'HOST': None})
    assert request(server.port)[0] == 200
    with pytest.raises(ConnectionRefusedError):  # Linux answers all 127/8
        socket.create_connection(('127.0.0.2', server.port), timeout=DEADLINE)
    everywhere = serve('webserver3i.py', app='hello:app',
                       env={'HOST': '0.0.0.0'})
    socket.create_connection(('127.0.0.2', everywhere.port),
                             timeout=DEADLINE).close()


def test_make_server_alone_reaps_the_children(serve):
    # no __main__ of 3i: make_server() alone
    server = serve(os.path.join(APPS, 'embedded.py'), cwd=APPS)
    for _ in range(3):
        assert request(server.port)[0] == 200
    wait_for(lambda: not server.children(), what='every child to be reaped')


# Stopping: Ctrl-C and SIGTERM ------------------------------------------------

def test_ctrl_c_lets_children_finish_and_the_parent_says_one_line(wsgi):
    server = wsgi('validated:sleepy', env={'REQUEST_TIMEOUT': '0.6'})
    silent = connect(server.port)  # its child waits for a request
    busy = connect(server.port)
    wait_for(lambda: len(server.children()) == 2, what='two children')
    # its app sleeps 0.2 s
    busy.sendall(b'GET /?0.2 HTTP/1.1\r\nHost: x\r\n\r\n')
    server.wait_output(r'app: sleeping 0.2 s')
    # Both children blocked (one in the app, one reading): past their setup
    wait_for(lambda: set(server.children().values()) == {'S'},
             what='both children to wait')
    os.killpg(server.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
    assert server.wait_exit() == 0
    # finished, not a 500
    assert parse(read_until_eof(busy))[2] == b'slept\n'
    silent_answer = read_until_eof(silent)  # the silent one: 408, or cut short
    assert silent_answer == b'' or silent_answer.startswith(b'HTTP/1.1 408 ')
    for line in [r'"GET /\?0.2 HTTP/1.1" 200 6$',
                 r'"-" (408 \d+|- 0 \(cut short)']:
        wait_for(lambda: re.search(line, server.output, re.M), what=line)
    assert server.output.count('WSGIServer: stopped\n') == 1
    assert 'Traceback' not in server.output
    assert 'KeyboardInterrupt' not in server.output
    busy.close(), silent.close()


def test_sigterm_stops_the_parent_with_one_line(wsgi):
    server = wsgi('validated:app')
    server.wait_in_accept()
    os.kill(server.pid, signal.SIGTERM)
    assert server.wait_exit() == 0
    assert server.output.endswith('WSGIServer: stopped\n'), server.output


# Real frameworks, real clients -----------------------------------------------



def test_flask_app(wsgi, python):
    require('flask', python)
    server = wsgi('flaskapp:app')
    status, headers, body = request(server.port)
    assert (status, body) == (200, b'Hello from Flask')
    status, headers, body = request(
        server.port, 'POST', '/form',
        ['Content-Type: application/x-www-form-urlencoded'],
        b'name=Ada+Lovelace&age=36')
    assert (status, body) == (200, b'name=Ada Lovelace age=36')
    status, headers, body = request(server.port, target='/go')
    assert status == 302
    assert headers['location'] in ('/', 'http://localhost/')
    assert request(server.port, target='/missing')[0] == 404
    assert 'Traceback' not in server.output


@pytest.fixture(params=['flask', 'django'])
def framework(request, servers, python):
    """3i serving tests/apps' Flask or Django app (skips without it)."""
    require(request.param, python)
    server = servers(python, request.param + 'app:app')
    before = len(server.output)
    yield server
    assert 'Traceback' not in server.output[before:], server.output


# A body in uneven pieces: each piece a chunk for requests
BODY = os.urandom(100 * 1024)
PIECES = [BODY[:1], BODY[1:1000], BODY[1000:1007], BODY[1007:40000],
          BODY[40000:]]
SHA256 = hashlib.sha256(BODY).hexdigest()


def upload_with_requests(port, tmp_path):
    requests = pytest.importorskip('requests', reason=DEV % 'requests')
    response = requests.put('http://127.0.0.1:%d/sha256' % port,
                            data=iter(PIECES), headers={'X-SHA256': SHA256},
                            timeout=DEADLINE)
    assert response.request.headers['Transfer-Encoding'] == 'chunked'
    return response.status_code, response.content


def upload_with_http_client(port, tmp_path):
    (tmp_path / 'body').write_bytes(BODY)
    connection = http.client.HTTPConnection('127.0.0.1', port,
                                            timeout=DEADLINE)
    with open(str(tmp_path / 'body'), 'rb') as body:
        # A file object and no Content-Length: http.client sends it chunked
        connection.request('PUT', '/sha256', body=body,
                           headers={'X-SHA256': SHA256})
    response = connection.getresponse()
    reply = response.status, response.read()
    connection.close()
    return reply


def upload_with_curl(port, tmp_path):
    if not shutil.which('curl'):
        pytest.skip('curl is not installed')
    out = subprocess.run(
        ['curl', '-sS', '-v', '--max-time', str(DEADLINE), '-T', '-',
         '-H', 'X-SHA256: ' + SHA256, '-w', '\n%{http_code}',
         'http://127.0.0.1:%d/sha256' % port],
        input=BODY, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert out.returncode == 0, out.stderr
    assert b'Transfer-Encoding: chunked' in out.stderr  # from stdin
    body, _, status = out.stdout.rpartition(b'\n')
    return int(status), body


@pytest.mark.parametrize('upload', [
    upload_with_requests, upload_with_http_client, upload_with_curl],
    ids=['requests', 'http.client', 'curl'])
def test_a_chunked_upload_reaches_the_framework_whole(framework, upload,
                                                      tmp_path):
    # The app checks the SHA-256 (422 if it differs) and reads only
    # CONTENT_LENGTH bytes, as Django does: 3i decodes the body first.
    status, body = upload(framework.port, tmp_path)
    assert status == 200, body
    reply = json.loads(body.decode())
    assert reply == {'length': len(BODY), 'sha256': SHA256,
                     'CONTENT_LENGTH': str(len(BODY))}


# Responses of no known length: chunked to HTTP/1.1 (RFC 9112 §6.3, §7.1) ----

SIZES = [1, 1000, 0, 7, 40000, 100000]  # an empty piece among them
QUERY = ','.join(map(str, SIZES))


def pieces(sizes=SIZES):
    """What the apps' streams send: piece i, of its size, of the i-th letter."""
    return b''.join(bytes([97 + i % 26]) * size for i, size in enumerate(sizes))


class CutShort(Exception):
    """A client saw the body end before its end."""


def fetch_with_requests(url):
    requests = pytest.importorskip('requests', reason=DEV % 'requests')
    try:
        response = requests.get(url, timeout=DEADLINE)
        return response.headers.get('Transfer-Encoding'), response.content
    except requests.RequestException as e:
        raise CutShort(e)


def fetch_with_httpx(url):
    httpx = pytest.importorskip('httpx', reason=DEV % 'httpx')
    try:
        response = httpx.get(url, timeout=DEADLINE)
        return response.headers.get('Transfer-Encoding'), response.content
    except httpx.HTTPError as e:
        raise CutShort(e)


def fetch_with_curl(url):
    if not shutil.which('curl'):
        pytest.skip('curl is not installed')
    out = subprocess.run(['curl', '-sS', '-v', '--max-time', str(DEADLINE), url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if out.returncode:  # e.g. 18, a chunked body that never ended
        raise CutShort(out.stderr.decode())
    framing = re.search(rb'^< Transfer-Encoding: (\S+)', out.stderr, re.M | re.I)
    return framing and framing.group(1).decode(), out.stdout


# A browser's fetch(), as node has it (undici): the body, and its framing on stderr
NODE_FETCH = """fetch(process.argv[1]).then(async (response) => {
    const body = Buffer.from(await response.arrayBuffer());
    process.stderr.write(String(response.headers.get('transfer-encoding')));
    process.stdout.write(body);
});"""


def fetch_with_node(url):
    if not shutil.which('node'):
        pytest.skip('node is not installed')
    out = subprocess.run(['node', '-e', NODE_FETCH, url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=DEADLINE)
    if out.returncode:  # the promise rejected: TypeError: terminated
        raise CutShort(out.stderr.decode())
    return out.stderr.decode(), out.stdout


CLIENTS = pytest.mark.parametrize('fetch', [
    fetch_with_requests, fetch_with_httpx, fetch_with_curl, fetch_with_node],
    ids=['requests', 'httpx', 'curl', 'node'])
# node's fetch is left out here: node 20's undici takes a chunked body's
# EOF, even a reset, for its end (fixed in undici by nodejs/undici#5273)
CUT_CLIENTS = pytest.mark.parametrize('fetch', [
    fetch_with_requests, fetch_with_httpx, fetch_with_curl],
    ids=['requests', 'httpx', 'curl'])


@CLIENTS
def test_a_streamed_body_reaches_every_client_chunked_and_whole(framework, fetch):
    # Flask's generator response, Django's StreamingHttpResponse: no
    # Content-Length, so chunked, the empty piece skipped (a 0-size chunk
    # would end the body there).
    framing, body = fetch('http://127.0.0.1:%d/stream?%s' % (framework.port, QUERY))
    assert (framing, len(body), body == pieces()) == ('chunked', sum(SIZES), True)


@CUT_CLIENTS
def test_an_app_failing_mid_stream_is_a_cut_every_client_sees(servers, python, fetch):
    # No last chunk, then a reset: never a body that passes for whole.
    server = servers(python, 'validated:midway')
    with pytest.raises(CutShort):
        fetch('http://127.0.0.1:%d/' % server.port)
    server.wait_output(r'"GET / HTTP/1.1" 200 15$')


@pytest.fixture
def streamer(servers, python):
    server = servers(python, 'validated:stream')
    before = len(server.output)
    yield server
    during = server.output[before:]
    assert 'Warning' not in during and 'Traceback' not in during, during


@pytest.mark.parametrize('path', ['/', '/write'], ids=['iterable', 'write'])
def test_a_body_of_unknown_length_goes_out_chunked(streamer, path):
    # The iterable and the legacy write() alike; parse() decodes the chunks
    # strictly: each chunk's size, its CRLF, a last chunk and nothing after.
    status, headers, body = request(streamer.port, target=path + '?' + QUERY)
    assert (status, headers['transfer-encoding'], body) == (200, 'chunked', pieces())
    assert 'content-length' not in headers
    # The access line counts the body's bytes, not the chunks' framing.
    streamer.wait_output(r'"GET %s\?%s HTTP/1.1" 200 %d$'
                         % (path, QUERY, sum(SIZES)))


def test_http_1_0_gets_the_body_ended_by_the_fin(streamer):
    # HTTP/1.0 has no chunked coding (RFC 9112 §7.1): the FIN ends the body.
    status, headers, body = exchange(
        streamer.port, b'GET /?%s HTTP/1.0\r\n\r\n' % QUERY.encode())
    assert (status, body) == (200, pieces())
    assert 'transfer-encoding' not in headers


@pytest.mark.parametrize('method, path', [
    ('HEAD', '/'), ('GET', '/204'), ('GET', '/304')], ids=['HEAD', '204', '304'])
def test_an_answer_without_a_body_is_the_head_alone(streamer, method, path):
    # RFC 9110 §6.4.1: no content after a HEAD, a 204 or a 304, even when
    # the app gives some: nothing to chunk, nothing after the head.
    with connect(streamer.port) as sock:
        sock.sendall(b'%s %s?1,2 HTTP/1.1\r\nHost: x\r\n\r\n'
                     % (method.encode(), path.encode()))
        head, end, rest = read_until_eof(sock).partition(b'\r\n\r\n')
    assert (end, rest) == (b'\r\n\r\n', b'')
    assert b'Transfer-Encoding' not in head and b'Content-Length' not in head
