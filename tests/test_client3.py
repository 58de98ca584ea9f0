"""client3.py, the article's load client: what it promises on the command line."""
import re
import socket

import pytest

from support import HOST, run_client3, wait_for

SUMMARY = r'^clients: (\d+), connections: (\d+), failed: (\d+), seconds: \d+\.\d\d$'


def summary(out):
    match = re.match(SUMMARY, out.stdout.strip())
    assert match, out.stdout
    return tuple(int(n) for n in match.groups())


def test_max_conns_is_honoured(serve, python):
    server = serve('webserver3g.py')
    out = run_client3(python, server.port, '--max-clients', 3, '--max-conns', 4)
    assert (out.returncode, out.stderr) == (0, '')
    assert summary(out) == (3, 12, 0)
    server.wait_output(r'^GET /hello HTTP/1.1', count=12)  # 3 x 4 requests arrived
    wait_for(lambda: not server.children(), what='every child to be reaped')
    assert server.output.count('GET /hello HTTP/1.1') == 12


def test_read_timeout_reads_every_response(serve, python):
    server = serve('webserver3g.py')
    out = run_client3(python, server.port, '--max-clients', 8, '--max-conns', 2,
                      '--read-timeout', 20)
    assert (out.returncode, out.stderr) == (0, '')
    assert summary(out) == (8, 16, 0)


def test_read_timeout_shows_the_missing_fin_of_3d(serve, python):
    server = serve('webserver3d.py')
    out = run_client3(python, server.port, '--max-clients', 2, '--read-timeout', 0.25)
    assert out.returncode == 1
    assert summary(out) == (2, 0, 2)
    assert out.stderr == '2 x timed out\n'


def test_no_server_is_counted_not_a_traceback(python):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    out = run_client3(python, port, '--max-clients', 3)
    assert out.returncode == 1
    assert summary(out) == (3, 0, 3)
    assert out.stderr == '3 x [Errno 111] Connection refused\n'


def test_bad_arguments_get_a_usage_error(python):
    for args in (['--max-clients', 'many'], ['--max-clients', '0'], ['--port', '70000'],
                 ['--read-timeout', '-1'], ['--read-timeout', '0']):
        out = run_client3(python, 8888, *args)
        assert out.returncode == 2 and out.stdout == ''
        assert out.stderr.splitlines()[-1].startswith('client3.py: error: ')
        assert 'Traceback' not in out.stderr



@pytest.mark.min_python((3, 6))
def test_an_unexpected_client_error_is_reported_with_its_text(python):
    # Python 3 cannot encode this host name (a label over 63 characters): not
    # a socket error, yet each client reports it instead of dying silently.
    out = run_client3(python, 8888, '--max-clients', 2, '--host', '\u00e9' * 64)
    assert out.returncode == 1
    assert summary(out) == (2, 0, 2)
    assert out.stderr == '2 x TypeError: encoding of hostname failed\n', out.stderr
