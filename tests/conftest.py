"""The suite's fixtures: which interpreters run the scripts, and a server factory.

By default the scripts run on the interpreter running pytest. `--python PATH`
(repeatable) and `--all-pythons` run every test once per interpreter; the test
IDs name it (py2.7, py3.13, ...).
"""
import os
import signal
import sys

import pytest

# The tools (tools/pictures.py, tools/bench.py, ...) that some tests run.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'tools'))

from support import (  # noqa: F401  (python2: the tests import it from here too)
    APPS, Interpreter, Server, become_subreaper, discover_pythons, python2, stop_all,
    take_ctrl_c, unprivileged_pythons, WSGI_STEPS)


def pytest_addoption(parser):
    group = parser.getgroup('lsbaws')
    group.addoption('--python', action='append', default=[], metavar='PATH',
                    help='run the scripts with this interpreter (repeatable)')
    group.addoption('--all-pythons', action='store_true',
                    help='run the scripts with every CPython found under pyenv and on PATH')


def interrupted(signum, frame):
    raise KeyboardInterrupt('SIGTERM')


def pytest_configure(config):
    # A SIGTERM ends the run like Ctrl-C does, so the servers still get killed.
    signal.signal(signal.SIGTERM, interrupted)
    become_subreaper()  # a server's orphans come back to this process, to be reaped
    take_ctrl_c()
    if config.getoption('all_pythons'):
        pythons = discover_pythons()
    else:
        pythons = [Interpreter(p) for p in config.getoption('python')]
    config.lsbaws_pythons = pythons or [Interpreter(sys.executable)]


def pytest_unconfigure(config):
    stop_all()  # servers of a test that was interrupted before its teardown


def pytest_report_header(config):
    return 'scripts run on: ' + ', '.join(map(repr, config.lsbaws_pythons))


def pytest_generate_tests(metafunc):
    if 'python' in metafunc.fixturenames:
        pythons = list(metafunc.config.lsbaws_pythons)
        # The EINTR lessons are about Python 2.7: show them there even in the
        # default run, when a 2.7 is installed.
        if metafunc.definition.get_closest_marker('also_python2') and python2():
            if all(p.version != python2().version for p in pythons):
                pythons.insert(0, python2())
        metafunc.parametrize('python', pythons, ids=[p.name for p in pythons])
    if 'nobody_python' in metafunc.fixturenames:
        pythons = unprivileged_pythons(metafunc.config.lsbaws_pythons) or [None]
        metafunc.parametrize('nobody_python', pythons, ids=[
            'nobody-' + p.name if p else 'nobody' for p in pythons])


# The tests look at the servers through /proc; the README's own checks need nothing.
ANYWHERE = {'test_readme.py'}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not sys.platform.startswith('linux') and item.fspath.basename not in ANYWHERE:
            item.add_marker(pytest.mark.skip(
                reason='needs Linux: the tests look at the servers through /proc'))
        python = getattr(item, 'callspec', None) and item.callspec.params.get('python')
        marker = item.get_closest_marker('min_python')
        if python and marker and python.version < marker.args[0]:
            item.add_marker(pytest.mark.skip(
                reason='needs Python %d.%d+' % marker.args[0]))


def servers_of(python):
    """A fixture's body: start(name, ...) starts a step and returns its Server;
    every server it started is killed, with its process group, afterwards."""
    servers = []

    def start(name, args=(), env=None, nofile=None, wait=True, cwd=None, nproc=None,
              app=None):
        if name == 'webserver3i.py' and python.version < (3, 6):
            pytest.skip('webserver3i.py needs Python 3.6+')
        if app and name in WSGI_STEPS:  # from tests/apps: `python ../../webserver3h.py hello:app`
            args, cwd = [app], cwd or APPS
        server = Server(python, name, args=args, env=env, nofile=nofile, cwd=cwd,
                        nproc=nproc)
        servers.append(server)
        return server.started() if wait else server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def serve(python):
    """serve('webserver3g.py', env={...}) starts a step and returns its Server."""
    yield from servers_of(python)


@pytest.fixture
def serve_as_nobody(nobody_python):
    """serve_as_nobody('webserver3d.py', nproc=N): the step runs as nobody (as
    root; else as this user) and may fork N processes (ulimit -u)."""
    if nobody_python is None:
        pytest.skip('no Python 3 outside /root for nobody to run (e.g. /usr/bin/python3)')
    yield from servers_of(nobody_python)
