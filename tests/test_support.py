"""What the tests stand on (tests/support.py) does what it says: a server
under a process limit runs as a uid no other process has, and a start that
the kernel refuses a port 0 tries again."""
import os
import pwd
import re

import pytest

import support
from support import Server, get, processes_of, this_python


def test_a_capped_server_runs_alone_under_a_uid_of_its_own(serve_capped):
    if os.geteuid() != 0:
        pytest.skip('not root: the server runs as this user (only root can give another uid)')
    server = serve_capped('webserver3a.py', nproc=1 + 2)
    uid = server.uid
    assert support.owner(server.pid) == uid and uid not in (0, support.NOBODY)
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)  # no user's
    # ulimit -u counts the processes of its uid: the server's alone
    assert processes_of(uid) == 1
    with open('/proc/%d/limits' % server.pid) as f:
        assert re.search(r'^Max processes +3 +3 +processes', f.read(), re.M)
    assert get(server.port).endswith(b'Hello, World!\n')


# The first start dies as a bind() to port 0 refused with EADDRINUSE does;
# the next ones run the step (mkdir: the first call alone makes the directory).
REFUSED_ONCE = ['sh', '-c', 'if mkdir "$0" 2>/dev/null; then echo "Cannot listen on '
                '(\'127.0.0.1\', 0): [Errno 98] Address already in use"; exit 1; fi; exec "$@"']


def test_a_start_refused_port_0_tries_again_and_says_so(tmp_path):
    mark = str(tmp_path / 'refused')
    server = Server(this_python(), 'webserver3a.py', wrapper=REFUSED_ONCE + [mark])
    try:
        with pytest.warns(UserWarning, match=r'webserver3a\.py: bind\(\) to port 0 was refused '
                          r'with EADDRINUSE .*after try 1 of 3'):
            server.started()
        assert get(server.port).endswith(b'Hello, World!\n')
    finally:
        server.stop()
    # On a port the test chose, EADDRINUSE is the answer: no second try.
    os.rmdir(mark)
    server = Server(this_python(), 'webserver3a.py', env={'PORT': '8'},
                    wrapper=REFUSED_ONCE + [mark])
    try:
        with pytest.raises(AssertionError, match='never listened'):
            server.started()
    finally:
        server.stop()
