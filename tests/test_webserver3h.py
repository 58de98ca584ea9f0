"""webserver3h.py, the article's exercise in the project's own code: Part 2's
WSGI server, in Part 2's shape, made concurrent with 3g's own lines. The apps
live in tests/apps/ (the server's working directory, as
`cd tests/apps && python ../../webserver3h.py hello:app`)."""
import difflib
import os
import subprocess

import pytest

import diffs

from support import (
    assert_answer,
    APPS, DEADLINE, REQUEST, connect, every_child_reaped_after, get, read_until_eof, require,
    script, wait_for, wchan)

claim = pytest.mark.claim


@claim('3h', "the exercise, Part 2's WSGI server made concurrent: an app's requests are served at "
             'once, a process each')
@pytest.mark.also_python2
def test_a_wsgi_app_serves_eight_sleeping_requests_at_once(serve, tmp_path):
    """Eight requests sleep in the app at the same time, a process each."""
    gate = str(tmp_path / 'gate')
    os.mkfifo(gate)
    server = serve('webserver3h.py', app='hello:gated', env={'LSBAWS_GATE': gate})
    clients = [connect(server.port) for _ in range(8)]
    for sock in clients:
        sock.sendall(REQUEST)
    # The app holds each request (its process waits to open a FIFO nobody
    # writes to yet): one at a time, only one would be in the app.
    def in_the_app():
        return [c for c in server.children() if wchan(c) == 'wait_for_partner']
    wait_for(lambda: len(in_the_app()) == 8, what='8 requests in the app at once',
             seen=lambda: '%d in the app, %d children' % (len(in_the_app()),
                                                          len(server.children())))
    with open(gate, 'wb'):  # and lets them all through
        pass
    answers = [read_until_eof(sock) for sock in clients]
    for answer in answers:
        assert_answer(answer, b'through')
    for sock in clients:
        sock.close()


@claim('3h', 'the parent closes its copy of the client socket: the client sees FIN once the child '
             'has answered')
@pytest.mark.also_python2
def test_fin_comes_once_the_child_closes_the_parent_closed_its_copy(serve):
    server = serve('webserver3h.py', app='hello:app')
    with connect(server.port) as sock:
        sock.sendall(REQUEST)
        # read_until_eof fails unless the FIN comes: the parent's copy is closed
        response = read_until_eof(sock)
    assert_answer(response)
    assert b'\r\nContent-Length: 14\r\n' in response
    server.wait_output(r'^< GET /hello HTTP/1.1$')  # it prints the request ...
    server.wait_output(r'^> HTTP/1.1 200 OK$')  # ... and the response, as Part 2
    assert server.alive()


@claim('3h', 'python client3.py --max-clients 128, then ps: no zombies', also=['client3.py'])
@pytest.mark.also_python2
def test_128_clients_leave_no_zombies(serve, python):
    server = serve('webserver3h.py', app='hello:app')
    # every child reaped: no zombie left (children() counts them too)
    every_child_reaped_after(server, python, 128, r'^< GET /hello HTTP/1.1$')
    assert server.alive()


@claim('3h', 'accept() interrupted by SIGCHLD is restarted, as in 3f and 3g')
@pytest.mark.only_python2
def test_interrupted_accept_is_restarted(serve):
    """Python 2.7 does not retry an accept() that SIGCHLD interrupts: 3h
    restarts it as 3f and 3g do, and serves again. (Python 3.5+ retries it
    itself, with or without 3h's lines: it skips there, saying so.)"""
    server = serve('webserver3h.py', app='hello:app')
    with connect(server.port) as sock:  # its child waits in recv()
        wait_for(server.children, what='a child')
        server.wait_in_accept()
        sock.sendall(REQUEST)  # the child answers, exits: SIGCHLD in accept()
        assert_answer(read_until_eof(sock))
    wait_for(lambda: not server.children(), what='the child to be reaped')
    server.wait_in_accept()
    assert_answer(get(server.port))
    assert server.alive()


@claim('3h', 'Flask and Django apps are served, as the WSGI server of Part 2 served them')
@pytest.mark.parametrize('app, body', [
    ('flaskapp:app', b'Hello from Flask'), ('djangoapp:app', b'Hello from Django')])
def test_flask_and_django_apps_are_served_on_get(serve, python, app, body):
    require(app[:-len('app:app')], python)
    server = serve('webserver3h.py', app=app)
    with connect(server.port) as sock:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
        response = read_until_eof(sock)
    assert_answer(response, body)


@pytest.mark.also_python2
def test_one_recv_is_the_whole_request(serve):
    """Part 2's flaw, kept: the request is what one recv(1024) returned, and a
    request line cut short kills the child (webserver3i.py reads up to the
    blank line, and answers 400 to what is not HTTP)."""
    server = serve('webserver3h.py', app='hello:app')
    with connect(server.port) as sock:
        sock.sendall(b'GET /hello')  # the rest of the request never comes
        assert read_until_eof(sock) == b''  # the child read once, failed, closed
    server.wait_output(r'^ValueError')
    assert server.alive()


@pytest.mark.also_python2
@pytest.mark.parametrize('args, message', [
    ([], 'Name the WSGI app to serve: module:callable, as hello:app'),
    (['hello'], 'Cannot load hello: '),
    (['nosuchmodule:app'], 'Cannot load nosuchmodule:app: '),
    (['hello:nosuchapp'], 'Cannot load hello:nosuchapp: ')])
def test_a_bad_app_argument_gets_one_clear_line(python, args, message):
    out = subprocess.run([python.path, script('webserver3h.py')] + args, cwd=APPS,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=DEADLINE)
    assert (out.returncode, out.stdout) == (1, '') and out.stderr.count('\n') == 1, out
    assert out.stderr.startswith(message), out.stderr


def test_the_concurrency_is_3g_own_lines():
    """3h's reaper is 3g's, and its loop is 3g's but for Part 2's names."""
    def code(lines):
        return [line.split('  #')[0].strip().replace('self.', '') for line in lines
                if line.strip() and not line.strip().startswith('#')]
    assert diffs.method('webserver3h.py', 'grim_reaper') == \
        diffs.method('webserver3g.py', 'grim_reaper')
    g, h = (code(diffs.serve_forever_loop(name)) for name in ('webserver3g.py',
                                                              'webserver3h.py'))
    changed = [line for line in difflib.ndiff(g, h) if line[:1] in '+-']
    assert sorted(changed) == ['+ handle_one_request()', '- client_connection.close()',
                               '- handle_request(client_connection)'], changed
