"""The suite's fixtures: which interpreters run the scripts, and a server factory.

By default the scripts run on the interpreter running pytest. `--python PATH`
(repeatable) and `--all-pythons` run every test once per interpreter; the test
IDs name it (py2.7, py3.13, ...).

`--mine=DIR` checks a learner's own webserver3a.py ... webserver3h.py and
client3.py in DIR, unchanged (see support.py and tests/launcher.py), against
the article: only the tests marked `@pytest.mark.claim(step, claim)` run; a
file DIR lacks skips its claims in one line; a claim that fails is reported
with the learner's file, the claim and the README lesson that tells it.
"""
import os
import signal
import sys
import textwrap

import pytest

# The tools (tools/pictures.py, tools/bench.py, ...) that some tests run.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'tools'))

import support
from support import (  # noqa: F401  (python2: the tests import it from here too)
    APPS, Interpreter, LEARNER_FILES, LESSONS, Server, become_subreaper, discover_pythons,
    python2, stop_all, take_ctrl_c, unprivileged_pythons, WSGI_STEPS)


def pytest_addoption(parser):
    group = parser.getgroup('lsbaws')
    group.addoption('--python', action='append', default=[], metavar='PATH',
                    help='run the scripts with this interpreter (repeatable)')
    group.addoption('--all-pythons', action='store_true',
                    help='run the scripts with every CPython found under pyenv and on PATH')
    group.addoption('--mine', metavar='DIR',
                    help="check your own webserver3a.py ... webserver3h.py and client3.py "
                         "in DIR, unchanged, against the article's claims")


def interrupted(signum, frame):
    raise KeyboardInterrupt('SIGTERM')


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter reads -r and --tb
def pytest_configure(config):
    mine = config.getoption('mine')
    if mine is not None:
        if not os.path.isdir(mine):
            raise pytest.UsageError('--mine %s: no such directory' % mine)
        found = support.use_mine(mine)
        if not found:
            raise pytest.UsageError(
                '--mine %s: no webserver3a.py ... webserver3h.py nor client3.py there '
                '(name your files as the article does)' % mine)
        config.lsbaws_mine = found
        config.option.reportchars += 's'  # a missing file's skip: its one line
        if config.option.tbstyle == 'auto':
            config.option.tbstyle = 'short'  # the claim and the numbers, not our code
    # A SIGTERM ends the run like Ctrl-C does, so the servers still get killed.
    signal.signal(signal.SIGTERM, interrupted)
    become_subreaper()  # a server's orphans come back to this process, to be reaped
    take_ctrl_c()
    if config.getoption('all_pythons'):
        pythons = discover_pythons()
    else:
        pythons = [Interpreter(p) for p in config.getoption('python')]
    config.lsbaws_pythons = pythons or [Interpreter(sys.executable)]


def pytest_collection_finish(session):
    # tools/pictures.py's quick run starts now, beside the other tests
    for item in session.items:
        if getattr(item.module, 'start_quick', None):
            item.module.start_quick()
            break


def pytest_unconfigure(config):
    pictures = sys.modules.get('test_pictures')
    if pictures:
        pictures.stop_quick()
    stop_all()  # servers of a test that was interrupted before its teardown


def pytest_report_header(config):
    lines = ['scripts run on: ' + ', '.join(map(repr, config.lsbaws_pythons))]
    if support.MINE:
        missing = [name for name in LEARNER_FILES if name not in config.lsbaws_mine]
        lines.append('--mine %s: checking %s%s' % (
            support.MINE, ', '.join(config.lsbaws_mine),
            '; not there, their claims skip: ' + ', '.join(missing) if missing else ''))
    return lines


def pytest_generate_tests(metafunc):
    if 'python' in metafunc.fixturenames:
        pythons = list(metafunc.config.lsbaws_pythons)
        # The EINTR lessons are about Python 2.7: show them there even in the
        # default run, when a 2.7 is installed.
        # Not under --mine: a learner's files run where the learner says.
        if (metafunc.definition.get_closest_marker('also_python2') and not support.MINE
                and python2()):
            if all(p.version != python2().version for p in pythons):
                pythons.insert(0, python2())
        metafunc.parametrize('python', pythons, ids=[p.name for p in pythons])
    if 'nobody_python' in metafunc.fixturenames:
        pythons = unprivileged_pythons(metafunc.config.lsbaws_pythons) or [None]
        metafunc.parametrize('nobody_python', pythons, ids=[
            'nobody-' + p.name if p else 'nobody' for p in pythons])


# The tests look at the servers through /proc; the README's own checks need nothing.
ANYWHERE = {'test_readme.py', 'test_readme_ru.py'}


def files_of(item):
    """The learner's files a claim test runs: its step (the `step` parameter,
    else the claim's own), and those the claim names in `also`."""
    claim = item.get_closest_marker('claim')
    params = item.callspec.params if hasattr(item, 'callspec') else {}
    return [params.get('step') or 'webserver%s.py' % claim.args[0]] + list(
        claim.kwargs.get('also', ()))


def pytest_collection_modifyitems(config, items):
    if support.MINE:  # the claims about the learner's files, and nothing else
        checked = [item for item in items if item.get_closest_marker('claim')
                   and set(files_of(item)) <= set(LEARNER_FILES)]
        config.hook.pytest_deselected(items=[item for item in items if item not in checked])
        items[:] = checked
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
        __tracebackhide__ = True  # a failure to start shows the test's line
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


def pytest_runtest_setup(item):
    if support.MINE:
        missing = [name for name in files_of(item) if name not in item.config.lsbaws_mine]
        if missing:
            pytest.skip('%s: not in %s, not checked' % (' and '.join(missing), support.MINE))


class ClaimFailed(object):
    """A failure's report under --mine: which file, what the article says of
    it and where the README tells the lesson, then the failure itself."""

    def __init__(self, header, longrepr):
        self.header, self.longrepr = header, longrepr

    def toterminal(self, tw):
        for line in self.header.splitlines():
            tw.line(line, red=True, bold=True)
        self.longrepr.toterminal(tw)

    def __getattr__(self, name):  # reprcrash, for the short summary's line
        if name == 'longrepr':  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.longrepr, name)

    def __str__(self):
        return '%s\n%s' % (self.header, self.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    claim = item.get_closest_marker('claim')
    if support.MINE and claim and report.failed and not isinstance(report.longrepr, str):
        step, text = claim.args
        report.longrepr = ClaimFailed(
            '%s does not show what the article says (%s):\n%s\n    the lesson: %s\n' % (
                ' and '.join(files_of(item)), support.MINE,
                textwrap.fill(text, 79, initial_indent='    ', subsequent_indent='    '),
                LESSONS[step]),
            report.longrepr)
