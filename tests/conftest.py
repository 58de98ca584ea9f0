"""The suite's fixtures: which interpreters run the scripts, and a server factory.

By default the scripts run on the interpreter running pytest. `--python PATH`
(repeatable) and `--all-pythons` run every test once per interpreter; the test
IDs name it (py2.7, py3.13, ...).

`--mine=DIR` checks a learner's own webserver3a.py ... webserver3h.py and
client3.py in DIR, unchanged (see support.py and tests/launcher.py), against
the article: only the tests marked `@pytest.mark.claim(step, claim)` run, in
the article's order, their IDs naming the file (`-k 3c`); `--mine=DIR/FILE`
checks one file. A file DIR lacks skips its claims in one line; a claim that
fails is reported as tests/teacher.py says it: what the learner's code said
first, a hint, then the claim and the README lesson; a file that cannot
start fails once and its other claims skip; a report card ends the run.
"""
import os
import signal
import sys
import threading

import pytest

# The tools (tools/pictures.py, tools/bench.py, ...) that some tests run.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'tools'))

import support
import teacher
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
                         "in DIR (or one of them: DIR/FILE), unchanged, against the "
                         "article's claims; write it with the =, --mine=DIR")


def interrupted(signum, frame):
    raise KeyboardInterrupt('SIGTERM')


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter reads -r and --tb
def pytest_configure(config):
    mine = config.getoption('mine')
    if mine is not None:
        directory, only = os.path.expanduser(mine), None  # the shell leaves ~ after =
        if directory.endswith('.py'):  # one file: that step alone
            directory, only = os.path.split(directory)
            if only not in LEARNER_FILES:
                raise pytest.UsageError('--mine %s: name your file as the article does: '
                                        'webserver3a.py ... webserver3h.py, client3.py' % mine)
            if not os.path.isfile(os.path.join(directory, only)):
                raise pytest.UsageError('--mine %s: no such file' % mine)
        elif not os.path.isdir(directory):
            raise pytest.UsageError('--mine %s: no such directory' % mine)
        found = support.use_mine(directory or os.curdir)
        if not found:
            raise pytest.UsageError(
                '--mine %s: no webserver3a.py ... webserver3h.py nor client3.py there '
                '(name your files as the article does)' % mine)
        config.lsbaws_mine = found
        config.lsbaws_only = only
        config.lsbaws_teacher = teacher.Teacher(support.MINE, found, only)
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
    # The tools' runs that tests wait for (their module's BESIDE, through the
    # `quick` fixture) start now, one after another, beside the other tests,
    # which run first (pytest_collection_modifyitems).
    runs = []
    for item in session.items:
        beside = getattr(item.module, 'BESIDE', None)
        if beside and 'quick' in item.fixturenames and beside not in runs:
            runs.append(beside)
    session.config.lsbaws_beside = runs
    if runs and not session.config.option.collectonly:
        threading.Thread(target=one_after_another, args=(runs,), daemon=True).start()


def one_after_another(runs):
    for beside in runs:
        run = beside.start()[1]
        if run is None:  # stopped already, or not for this install
            continue
        try:  # until it exits; its test reaps it
            os.waitid(os.P_PID, run.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:  # reaped already
            pass


def pytest_unconfigure(config):
    for beside in getattr(config, 'lsbaws_beside', []):
        beside.stop()  # interrupted, or never waited for
    stop_all()  # servers of a test that was interrupted before its teardown


def pytest_report_header(config):
    lines = ['scripts run on: ' + ', '.join(map(repr, config.lsbaws_pythons))]
    if support.MINE and config.lsbaws_only:
        lines.append('--mine %s: checking %s alone' % (support.MINE, config.lsbaws_only))
    elif support.MINE:
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
        if metafunc.definition.get_closest_marker('only_python2'):
            # Only Python < 3.5 shows these: those given, else a 2.7 as above,
            # else the Pythons 3 given, which skip saying why (PEP_475).
            old = [p for p in pythons if p.version < (3, 5)]
            if not old and not support.MINE and python2():
                old = [python2()]
            pythons = old or pythons
        metafunc.parametrize('python', pythons, ids=[
            p.name + file_id(metafunc) for p in pythons])
    if 'capped_python' in metafunc.fixturenames:
        pythons = unprivileged_pythons(metafunc.config.lsbaws_pythons) or [None]
        metafunc.parametrize('capped_python', pythons, ids=[
            ('capped-' + p.name if p else 'capped') + file_id(metafunc) for p in pythons])


def file_id(metafunc):
    """Under --mine, the file a claim test checks, for its ID (`-k 3c`),
    unless its `step` parameter names it already: '-webserver3c.py'."""
    claim = metafunc.definition.get_closest_marker('claim')
    if support.MINE and claim and 'step' not in metafunc.fixturenames:
        return '-webserver%s.py' % claim.args[0]
    return ''


# Why a test of accept() restarted on EINTR cannot run on Python 3.5+.
PEP_475 = ('%s retries an accept() that a signal interrupts by itself (PEP 475): a step\'s '
           'restart on EINTR can be neither shown nor missed there; run this with '
           '--python=PATH of a Python 2.7 (the default run does, when it finds one)')

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
    if support.MINE:  # the claims about the learner's files (or file), and nothing else
        only = config.lsbaws_only
        checked = [item for item in items if item.get_closest_marker('claim')
                   and set(files_of(item)) <= set(LEARNER_FILES)
                   and (not only or only == files_of(item)[0]
                        or only == 'client3.py' and only in files_of(item))]
        config.hook.pytest_deselected(items=[item for item in items if item not in checked])
        # in the article's order, a file's claims together
        items[:] = sorted(checked, key=lambda item: LEARNER_FILES.index(files_of(item)[0]))
    # the tests that wait for a tool's run beside them go last: it has had the
    # whole run to finish
    items.sort(key=lambda item: 'quick' in getattr(item, 'fixturenames', ()))
    for item in items:
        if not sys.platform.startswith('linux') and item.fspath.basename not in ANYWHERE:
            item.add_marker(pytest.mark.skip(
                reason='needs Linux: the tests look at the servers through /proc%s' % (
                    ' (on Windows: WSL)' if support.MINE else '')))
        python = getattr(item, 'callspec', None) and item.callspec.params.get('python')
        marker = item.get_closest_marker('min_python')
        if python and marker and python.version < marker.args[0]:
            item.add_marker(pytest.mark.skip(
                reason='needs Python %d.%d+' % marker.args[0]))
        if python and item.get_closest_marker('only_python2') and python.version >= (3, 5):
            item.add_marker(pytest.mark.skip(reason=PEP_475 % python.name))


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
        server = support.watch(Server(python, name, args=args, env=env, nofile=nofile,
                                      cwd=cwd, nproc=nproc))
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
def serve_capped(capped_python):
    """serve_capped('webserver3d.py', nproc=N): the step runs under ulimit -u
    N, as a uid of its own that no other process has (as root; else as this
    user), with an interpreter any user can run (support.Server)."""
    if capped_python is None:
        pytest.skip('no Python 3 outside /root for another user to run (e.g. /usr/bin/python3)')
    yield from servers_of(capped_python)


def pytest_runtest_setup(item):
    del support.WATCHED[:]  # the processes of this test, and no other
    if support.MINE:
        why = item.config.lsbaws_teacher.skip_reason(files_of(item))
        if why:
            pytest.skip(why)


class TooLong(AssertionError):
    """A check of a learner's file ran past MINE_LIMIT."""


def too_long(signum, frame):
    raise TooLong('stopped after %d s: no check of the article\'s claims takes longer'
                  % MINE_LIMIT)


MINE_LIMIT = 30  # seconds a claim test may take under --mine


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if support.MINE:
        signal.signal(signal.SIGALRM, too_long)
        signal.alarm(MINE_LIMIT)
    try:
        yield
    finally:
        if support.MINE:
            signal.alarm(0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    claim = item.get_closest_marker('claim')
    if support.MINE and claim and call.when == 'call':
        for process in support.WATCHED:  # what a child writes as it ends, just after
            process.settle()
    report = (yield).get_result()
    if support.MINE and claim:
        item.config.lsbaws_teacher.judge(
            report, files_of(item), claim.args, call.excinfo and call.excinfo.value,
            support.WATCHED, item.name)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # around the terminal's: after its summary
def pytest_sessionfinish(session):
    yield
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if support.MINE and reporter is not None:
        session.config.lsbaws_teacher.print_card(reporter)
