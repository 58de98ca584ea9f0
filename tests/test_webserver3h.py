"""webserver3h.py: the Part 2 WSGI server, concurrent the way 3g is.

The apps live in tests/apps/ and are imported from the server's working
directory, as `python webserver3h.py module:callable` does for a user.
"""
import ast
import email.utils
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from support import (
    DEADLINE, connect, read_at_least, read_until_eof, run_client3, script, wait_for)

pytestmark = pytest.mark.min_python((3, 6))
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps')


@pytest.fixture
def wsgi(serve):
    """wsgi('validated:app') starts webserver3h.py serving that app."""
    def start(app, env=None):
        return serve('webserver3h.py', args=[app], env=env, cwd=APPS)
    return start


def exchange(port, raw, timeout=DEADLINE):
    """Send raw bytes, read the answer up to FIN: (status, headers, body)."""
    with connect(port, timeout) as sock:
        sock.sendall(raw)
        response = read_until_eof(sock, timeout)
    head, _, body = response.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    assert all(b'\n' not in line for line in lines), 'a header line not ending in CRLF'
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode('latin-1').partition(':')
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def request(port, method='GET', target='/', headers=(), body=b''):
    head = ['%s %s HTTP/1.1' % (method, target), 'Host: localhost']
    if body:
        head.append('Content-Length: %d' % len(body))
    head.extend(headers)
    return exchange(port, ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1') + body)


def assert_clean(server):
    """No validator warning and no traceback in the server's output."""
    out = server.output
    assert 'Warning' not in out and 'Traceback' not in out, out


# PEP 3333, seen through wsgiref.validate -------------------------------------

def test_get_with_a_query_fills_the_environ(wsgi):
    server = wsgi('validated:app')
    status, headers, body = request(server.port, target='/caf%C3%A9/x%20y?a=1&b=%20',
                                    headers=['X-Twice: 1', 'X-Twice: 2'])
    assert status == 200
    env = json.loads(body.decode())
    assert env['REQUEST_METHOD'] == 'GET'
    assert env['SCRIPT_NAME'] == ''
    assert env['PATH_INFO'] == '/caf\xc3\xa9/x y'  # unquoted, latin-1 decoded
    assert env['QUERY_STRING'] == 'a=1&b=%20'
    assert env['SERVER_PORT'] == str(server.port) and env['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert env['REMOTE_ADDR'] == '127.0.0.1' and env['HTTP_HOST'] == 'localhost'
    assert env['HTTP_X_TWICE'] == '1,2'
    assert env['wsgi.multiprocess'] is True and env['wsgi.multithread'] is False
    assert env['body_length'] == 0
    assert headers['connection'] == 'close' and headers['content-type'] == 'application/json'
    assert email.utils.parsedate_to_datetime(headers['date']).timestamp() == pytest.approx(
        time.time(), abs=60)
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
        ['curl', '-sS', '-v', '--max-time', str(DEADLINE), '--data-binary', '@body',
         '-H', 'Content-Type: application/octet-stream', '-H', 'Expect: 100-continue',
         'http://127.0.0.1:%d/upload' % server.port],
        cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert out.returncode == 0, out.stderr
    env = json.loads(out.stdout.decode())
    assert env['REQUEST_METHOD'] == 'POST' and env['CONTENT_TYPE'] == 'application/octet-stream'
    assert env['CONTENT_LENGTH'] == str(len(data)) and env['body_length'] == len(data)
    assert env['body_sha256'] == hashlib.sha256(data).hexdigest()
    # Asked to 'Expect: 100-continue' (older curls do for bodies over 1 kB, newer
    # over 1 MB), the server says go ahead rather than let curl stall a second.
    assert b'HTTP/1.1 100 Continue' in out.stderr
    server.wait_output('app: response closed')
    assert_clean(server)


def test_body_read_line_by_line_with_bare_lf_request(wsgi):
    server = wsgi('validated:app')
    body = b'one\ntwo\nthree'
    raw = b'POST /lines HTTP/1.1\nHost: x\nContent-Length: %d\n\n%s' % (len(body), body)
    status, headers, reply = exchange(server.port, raw)
    env = json.loads(reply.decode())
    assert status == 200 and env['body_start'] == 'one\ntwo\nthree'
    assert_clean(server)


def test_write_callable_and_exc_info(wsgi):
    server = wsgi('validated:app')
    assert request(server.port, target='/write')[2] == b'written then returned\n'
    status, headers, body = request(server.port, target='/exc_info')
    assert (status, body) == (503, b'sorry\n')
    assert_clean(server)


def test_the_app_can_wait_for_its_own_subprocess(wsgi):
    server = wsgi('validated:app')
    # The child resets SIGCHLD: the server's reaper does not steal the exit status.
    assert json.loads(request(server.port, target='/subprocess')[2].decode())[
        'body_start'] == '3'


# Concurrency, exactly as 3g ----------------------------------------------------

def test_an_app_that_sleeps_serves_many_at_once(wsgi):
    server = wsgi('validated:sleepy')
    sleep, n = 2.0, 6
    started = time.monotonic()
    clients = [connect(server.port) for _ in range(n)]
    for sock in clients:
        sock.sendall(b'GET /?%s HTTP/1.1\r\nHost: x\r\n\r\n' % str(sleep).encode())
    for sock in clients:
        assert read_until_eof(sock).endswith(b'\r\n\r\nslept\n')  # and FIN
        sock.close()
    elapsed = time.monotonic() - started
    assert elapsed < sleep * n / 2, '%d requests took %.1f s: not concurrent' % (n, elapsed)
    wait_for(lambda: not server.children(), what='every child to be reaped')


def test_128_clients_leave_no_zombies(wsgi, python):
    server = wsgi('validated:sleepy')
    out = run_client3(python, server.port, '--max-clients', 128, '--read-timeout', 20)
    assert out.returncode == 0, out.stderr  # every response read up to its FIN
    wait_for(lambda: not server.children(), what='every child to be reaped')
    server.wait_in_accept()
    assert server.zombies() == [] and server.alive()


def test_concurrency_code_matches_3g_line_for_line():
    def tree(name):
        return ast.parse(open(script(name)).read())

    def function(module, name):
        for node in ast.walk(module):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node

    g, h = tree('webserver3g.py'), tree('webserver3h.py')
    assert ast.dump(function(g, 'grim_reaper')) == ast.dump(function(h, 'grim_reaper'))
    # serve_forever's loop: accept, restart on EINTR, fork, close the copies
    loop_g = [n for n in function(g, 'serve_forever').body if isinstance(n, ast.While)][0]
    loop_h = [n for n in function(h, 'serve_forever').body if isinstance(n, ast.While)][0]
    dump_g = ast.dump(loop_g).replace("Name(id='handle_request', ctx=Load())", 'HANDLER')
    dump_h = ast.dump(loop_h).replace(
        "Attribute(value=Name(id='self', ctx=Load()), attr='handle_one_request', ctx=Load())",
        'HANDLER').replace(", Name(id='client_address', ctx=Load())", '')
    assert dump_g == dump_h


# Bad input gets an answer; the parent keeps serving ---------------------------

BAD_REQUESTS = [
    (b'GARBAGE\r\n\r\n', 400),
    (b'GET / HTTP/1.1 extra\r\n\r\n', 400),
    (b'GET / SPDY/3\r\n\r\n', 400),
    (b'GET /' + b'a' * 10000 + b' HTTP/1.1\r\n\r\n', 414),
    (b'GET / HTTP/1.1\r\nX-Big: ' + b'a' * 70000 + b'\r\n\r\n', 431),
    (b'GET / HTTP/1.1\r\n' + b'X-Many: a\r\n' * 200 + b'\r\n', 431),
    (b'GET / HTTP/1.1\r\nno colon here\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n', 400),
    (b'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 400),
    ('POST / HTTP/1.1\r\nContent-Length: \u00b2\r\n\r\n'.encode('utf-8'), 400),
    (b'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400),
    (b'POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n', 413),
    (b'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 411),
]


@pytest.mark.parametrize('raw, expected', BAD_REQUESTS,
                         ids=[str(i) for i in range(len(BAD_REQUESTS))])
def test_bad_request_gets_its_status(wsgi, raw, expected):
    server = wsgi('validated:app')
    status, headers, body = exchange(server.port, raw)
    assert status == expected
    assert body.startswith(str(expected).encode())
    assert request(server.port)[0] == 200 and server.alive()
    assert 'Traceback' not in server.output


def test_too_large_body_is_refused_and_the_client_is_not_reset(wsgi):
    server = wsgi('validated:app')
    with connect(server.port) as sock:
        sock.sendall(b'POST / HTTP/1.1\r\nContent-Length: 20000000\r\n\r\n')
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
    server.wait_output(r'RuntimeError: the app is broken')
    server.wait_output(r'"GET / HTTP/1.1" 500')
    assert server.alive()


def test_silent_and_half_sent_clients_time_out(wsgi):
    server = wsgi('validated:app', env={'REQUEST_TIMEOUT': '1'})
    silent = connect(server.port)
    half = connect(server.port)
    half.sendall(b'POST / HTTP/1.1\r\nContent-Le')
    wait_for(lambda: len(server.children()) == 2, what='two children')
    # Each child gives up after REQUEST_TIMEOUT, answers 408 and exits.
    assert read_until_eof(silent).startswith(b'HTTP/1.1 408 ')
    assert read_until_eof(half).startswith(b'HTTP/1.1 408 ')
    silent.close(), half.close()
    wait_for(lambda: not server.children(), what='the children to give up')
    assert request(server.port)[0] == 200


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
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()
    server.wait_output(r'"GET / HTTP/1.1" 200 \d+ \(client gone')
    wait_for(lambda: not server.children(), what='the child to exit')
    assert 'Traceback' not in server.output
    server.wait_in_accept()
    assert server.alive()


def test_dotted_module_imported_from_the_working_directory(serve):
    server = serve('webserver3h.py', args=['tests.apps.validated:app'])  # cwd: the repo
    assert request(server.port)[0] == 200


@pytest.mark.parametrize('args, message', [
    ([], 'Provide a WSGI application object as module:callable'),
    (['validated'], 'Provide a WSGI application object as module:callable'),
    (['nosuchmodule:app'], "Cannot import 'nosuchmodule': No module named 'nosuchmodule'"),
    (['validated:nosuchapp'], "No callable 'nosuchapp' in module 'validated'"),
])
def test_bad_arguments_get_one_clear_line(python, args, message):
    out = subprocess.run([python.path, script('webserver3h.py')] + args, cwd=APPS,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=DEADLINE)
    assert (out.returncode, out.stdout, out.stderr) == (1, '', message + '\n')


def test_bad_request_timeout_gets_one_clear_line(python):
    out = subprocess.run([python.path, script('webserver3h.py'), 'validated:app'], cwd=APPS,
                         env=dict(os.environ, PORT='0', REQUEST_TIMEOUT='soon'),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=DEADLINE)
    assert (out.returncode, out.stderr) == (
        1, "REQUEST_TIMEOUT must be a number of seconds, not 'soon'\n")


# A real framework ---------------------------------------------------------------

def test_flask_app(wsgi, python):
    if subprocess.run([python.path, '-c', 'import flask'],
                      stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip('Flask is not installed for %s' % python.name)
    server = wsgi('flaskapp:app')
    status, headers, body = request(server.port)
    assert (status, body) == (200, b'Hello from Flask')
    status, headers, body = request(
        server.port, 'POST', '/form', ['Content-Type: application/x-www-form-urlencoded'],
        b'name=Ada+Lovelace&age=36')
    assert (status, body) == (200, b'name=Ada Lovelace age=36')
    status, headers, body = request(server.port, target='/go')
    assert status == 302 and headers['location'] in ('/', 'http://localhost/')
    assert request(server.port, target='/missing')[0] == 404
    assert 'Traceback' not in server.output
