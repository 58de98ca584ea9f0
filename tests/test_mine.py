"""`python -m pytest --mine=DIR`, checked on files like a learner's: the
article's listings, as tools/article.py makes them from this project's steps
(the additions taken out), copies of them with a lesson taken out, the
mistakes the article's readers make, and a 3g in a learner's own style
(tests/learner/webserver3g.py).

The runs of --mine take a minute, so they have a marker of their own,
outside the default run: `python -m pytest -m mine` (CI runs it).
"""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import article
import teacher
from support import ROOT, python2

EXPECTED = {  # a lesson taken out of a listing: the claim tests that must fail
    'webserver3c.py': ('client_connection.close()  # close parent copy',
                       'pass  # the parent keeps the client socket',
                       ['test_fin_arrives_only_after_the_child_sleeps']),
    'webserver3e.py': ('signal.signal(signal.SIGCHLD, grim_reaper)', 'pass  # no handler',
                       ['test_sigchld_handler_reaps_the_child',
                        'test_interrupted_accept_kills_3e_on_python2_only',
                        'test_strace_shows_sigchld_interrupting_accept']),
    'webserver3f.py': ('REQUEST_QUEUE_SIZE = 1024', 'REQUEST_QUEUE_SIZE = 5',
                       ['test_listen_backlog_holds_a_burst_of_128']),
    'webserver3g.py': ('os.WNOHANG  # Do not block', '0  # block: a blocking reaper',
                       ['test_reaper_does_not_block_while_a_child_lives']),
}


def test_the_listings_are_the_articles_comments_aside():
    if not os.path.exists(article.ARTICLE):
        pytest.skip("the article's text is not beside the clone (%s)" % article.ARTICLE)
    with open(article.ARTICLE) as f:
        listings = article.listings(f.read())
    assert sorted(listings) == sorted(set(article.FILES) - {'webserver3h.py'})
    for name, listing in listings.items():
        assert article.code(article.derived(name)) == article.code(listing), name


def test_the_listings_keep_none_of_the_additions():
    for name in article.STEPS:
        text = article.derived(name)
        assert "SERVER_ADDRESS = (HOST, PORT) = '', 8888\n" in text, name
        for addition in ('os.environ', 'SystemExit', 'SLEEP_SECONDS', 'getsockname()[1]',
                         'Cannot load'):
            assert addition not in text, (name, addition)
        compile(text, name, 'exec')
    assert 'time.sleep(60)' in article.derived('webserver3b.py')
    assert 'time.sleep(60)' in article.derived('webserver3c.py')
    assert 'time.sleep(3)' in article.derived('webserver3e.py')


def start_mine(directory, *args, **env):
    """Start python -m pytest --mine=directory ARGS, from the clone."""
    return subprocess.Popen(
        [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '--mine=' + str(directory)]
        + list(args), cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, universal_newlines=True)


def finish(run):
    """(exit code, output) of a run start_mine() started."""
    try:
        out = run.communicate(timeout=300)[0]
    finally:
        if run.poll() is None:  # interrupted: SIGTERM lets it stop its servers
            run.terminate()
            run.communicate()
    return run.returncode, out


def check_mine(directory, *args, **env):
    """python -m pytest --mine=directory ARGS: (exit code, output)."""
    return finish(start_mine(directory, *args, **env))


# this interpreter, and 2.7 when there is one: the article's listings are of its time
PYTHONS = [pytest.param(sys.executable, id='this')] + [
    pytest.param(python.path, id='py2.7') for python in [python2()] if python]


@pytest.mark.mine
@pytest.mark.parametrize('interpreter', PYTHONS)
def test_the_articles_listings_pass(tmp_path, interpreter):
    article.write(str(tmp_path))
    started = time.monotonic()
    code, out = check_mine(tmp_path, '--python=' + interpreter, '-rs')
    took = time.monotonic() - started
    assert code == 0, out
    assert took < 90, 'every step checked in %.0f s' % took
    selected = int(re.search(r' (\d+) selected', out).group(1))
    passed = int(re.search(r' (\d+) passed', out).group(1))
    assert passed > 30 and 'failed' not in out.splitlines()[-1], out
    # the skipped: only what the interpreter lacks (Flask and Django for 3h),
    # and on Python 3 the restart of accept() on EINTR, which it cannot show
    skipped = re.findall(r'^SKIPPED \[(\d+)\] \S+ (.*)$', out, re.M)
    assert all('requirements-dev.txt' in reason or 'PEP 475' in reason
               for count, reason in skipped), skipped
    assert passed + sum(int(count) for count, reason in skipped) == selected, out
    # the card says which claims Python 2.7 alone shows: 3f's and 3h's restart
    python2 = [label for label, word, text in card(out) if 'on Python 2.7 only' in text]
    assert python2 == ([] if interpreter != sys.executable else ['3f', '3h']), card(out)


@pytest.mark.mine
def test_a_lesson_taken_out_fails_naming_the_file_and_the_lesson(tmp_path):
    runs = {}
    for name, (old, new, tests) in EXPECTED.items():  # each in a directory of its own
        text = article.derived(name)
        assert text.count(old) == 1, (name, old)
        (tmp_path / name[:-3]).mkdir()
        (tmp_path / name[:-3] / name).write_text(text.replace(old, new))
        # at once (they mostly wait); what never comes is waited for 3 s, not 20
        runs[name] = start_mine(tmp_path / name[:-3], '-rfs', LSBAWS_DEADLINE='3')
    for name, (old, new, tests) in EXPECTED.items():
        code, out = finish(runs[name])
        directory = tmp_path / name[:-3]
        assert code == 1, out
        failed = re.findall(r'^FAILED tests/\w+\.py::(\w+)\[', out, re.M)
        assert sorted(failed) == sorted(tests), out
        for test in tests:  # the report begins with the file, the claim, the lesson
            report = out.split('_ %s[' % test, 1)[1].split('\n_____', 1)[0].splitlines()
            assert report[1] == '%s does not show what the article says (%s):' % (
                name, directory), report
            lesson = next(n for n, line in enumerate(report) if 'the lesson:' in line)
            assert report[lesson].startswith('    the lesson: README.md#3'), report
            assert all(line.startswith('    ') for line in report[2:lesson]), report
        # the files it lacks: their claims skip, in a line per file (or files)
        lacks = re.findall(r'^SKIPPED \[\d+\] \S+ ([\w.]+(?: and [\w.]+)?): not in %s, not '
                           r'checked$' % re.escape(str(directory)), out, re.M)
        assert len(lacks) == len(set(lacks)), out
        assert {file for line in lacks for file in line.split(' and ')} == set(
            article.FILES) - {name}, out


@pytest.mark.mine
def test_an_empty_directory_gets_one_clear_line(tmp_path):
    code, out = check_mine(tmp_path)
    assert code == 4, out  # pytest's usage error
    assert out.strip() == ('ERROR: --mine %s: no webserver3a.py ... webserver3h.py nor '
                           'client3.py there (name your files as the article does)' % tmp_path)


def learners(tmp_path, name, edits=(), beside=()):
    """The article's listing of name as a learner typed it, edits (old, new)
    and all, in tmp_path, with the listings of the files beside; its path."""
    text = article.derived(name)
    for old, new in edits:
        assert text.count(old) == 1, (name, old)
        text = text.replace(old, new)
    (tmp_path / name).write_text(text)
    article.write(str(tmp_path), beside)
    return tmp_path / name


def failures(out):
    """{test ID: its report's lines} of each failure, in order."""
    found = {}
    for test, body in re.findall(r'^_+ (\S+) _+\n(.*?)(?=^_{3,} |^={3,} )',
                                 out, re.M | re.S):
        found[test] = body.splitlines()
    return found


def card(out):
    """The report card's rows after pytest's summary: [(label, word, text)]
    (a link put under its text: joined to it)."""
    after = out.split(" your files, in the article's order ", 1)[1].splitlines()[1:]
    rows = []
    for row in after:
        if row.startswith(' ' * 12) and rows:
            rows[-1] = rows[-1][:2] + (rows[-1][2] + ' ' + row.strip(),)
        elif row.strip():
            rows.append(re.match(r'^(\S+) +(ok|FAILED|skipped) +(.*)$', row).groups())
    return rows


# The mistakes the article's readers make (its issue tracker), each in the
# listing as they typed it: (the file, its edits, the files beside it; the
# first line of the failure, a line of what the code said (a regex), the
# hint's first line, the card's row).
MISTAKES = [
    pytest.param(
        'webserver3a.py', [('http_response = b"""', 'http_response = """')], [],
        'webserver3a.py (the server) exited with status 1 before the test was done:',
        re.escape("TypeError: a bytes-like object is required, not 'str'"),
        "hint: Python 3's sockets send bytes", ('3a', 'FAILED', 'TypeError'),
        id='3a-answers-a-str'),
    pytest.param(
        'webserver3b.py', [('print(request.decode())', 'print request.decode()')], [],
        'webserver3b.py cannot start, so its claims cannot be checked (the others skip):',
        r"SyntaxError: Missing parentheses in call to 'print'",
        'hint: Python 2 code on Python 3', ('3b', 'FAILED', 'cannot start'),
        id='3b-python2s-print'),
    pytest.param(
        'webserver3c.py', [('            os._exit(0)  # child exits here\n', '')], [],
        'webserver3c.py: 3 children exited with status 1, each with this traceback:',
        re.escape('OSError: [Errno 9] Bad file descriptor'),
        'hint: a child came back into the accept() loop', ('3c', 'FAILED', 'OSError'),
        id='3c-child-without-os._exit'),
    pytest.param(
        'webserver3f.py', [('                continue\n            else:\n                raise',
                            '                continue\n        else:\n            raise')], [],
        'webserver3f.py (the server) exited with status 1 before the test was done:',
        'RuntimeError: No active exception to reraise',
        'hint: a bare `raise` ran with no exception', ('3f', 'FAILED', 'RuntimeError'),
        id='3f-else-misplaced'),
    pytest.param(
        'webserver3h.py', [('import io\n', 'import StringIO\n'),
                           ('io.BytesIO(', 'StringIO.StringIO(')], [],
        'webserver3h.py cannot start, so its claims cannot be checked (the others skip):',
        re.escape("ModuleNotFoundError: No module named 'StringIO'"),
        'hint: Python 2 code on Python 3', ('3h', 'FAILED', 'cannot start'),
        id='3h-part2s-StringIO'),
    pytest.param(
        'client3.py', [('REQUEST = b"""', 'REQUEST = """')], ['webserver3g.py', 'webserver3h.py'],
        'client3.py: 128 of its clients exited with status 1, each with this traceback:',
        re.escape("TypeError: a bytes-like object is required, not 'str'"),
        "hint: Python 3's sockets send bytes", ('client3.py', 'FAILED', 'TypeError'),
        id='client3-sends-a-str'),
    pytest.param(
        'client3.py', [('                print(connection_num)\n                os._exit(0)',
                        '                print(connection_num)\n            os._exit(0)')],
        ['webserver3g.py', 'webserver3h.py'],
        'client3.py --max-clients 128 was stopped still connecting: the server had printed',
        r'[1-9]\d*$', 'hint: each client of client3.py should exit after one connection',
        ('client3.py', 'FAILED', '--max-clients 128 was stopped still connecting'),
        id='client3-exits-after-its-loop'),
]


@pytest.fixture(scope='module')
def mistakes(tmp_path_factory):
    """--mine=FILE on each mistake's file, all started at once (they mostly
    wait): {id: (the file, the run, when it started)}."""
    runs = {}
    for mistake in MISTAKES:
        name, edits, beside = mistake.values[:3]
        path = learners(tmp_path_factory.mktemp(mistake.id), name, edits, beside)
        runs[mistake.id] = path, start_mine(path, '-rs'), time.monotonic()  # the file alone
    yield runs
    for path, run, started in runs.values():
        if run.poll() is None:  # a test that did not finish it: no run outlives them
            run.terminate()
            run.communicate()


@pytest.mark.mine
@pytest.mark.parametrize('name, edits, beside, cause, said, hint, row', MISTAKES)
def test_a_mistake_fails_once_with_what_the_code_said_first_and_a_hint(
        request, mistakes, name, edits, beside, cause, said, hint, row):
    path, run, started = mistakes[request.node.callspec.id]
    code, out = finish(run)
    assert code == 1 and time.monotonic() - started < 60, out
    tmp_path = path.parent
    # the first failure shows the cause; a later one with the same, in a line
    (test, report), later = list(failures(out).items())[0], list(failures(out).values())[1:]
    assert all(any(line.startswith('    (the same as above, ending: ') for line in other)
               for other in later), later
    assert report[0] == cause or report[0].startswith(cause), report
    # what the code said comes first, whole, from the learner's file, then the hint
    hinted = next(n for n, line in enumerate(report) if line.startswith('hint: '))
    assert re.search('(?m)^    ' + said, '\n'.join(report[1:hinted])), report
    assert report[hinted].startswith(hint), report
    if 'Traceback' in '\n'.join(report[1:hinted]):
        assert '  File "%s", line ' % path in '\n'.join(report), report
    # a capped run's world-readable copy of the files is never named: the learner's file is
    assert not re.search(r'/lsbaws-\w{8}/', out), out
    assert report[hinted + 2].startswith('      see README.md#3'), report
    assert all(n > hinted for n, line in enumerate(report) if 'the lesson: ' in line), report
    # a file that cannot start, or a client3.py that fails: its other claims
    # skip, naming that failure
    skipped = re.findall(r'^SKIPPED \[\d+\] \S+ (.*)$', out, re.M)
    assert all(test in reason or 'not in %s' % tmp_path in reason or 'PEP 475' in reason
               for reason in skipped), skipped
    if 'cannot start' in cause or name == 'client3.py':
        assert not later and any(test in reason for reason in skipped), out
    (label, word, text), = card(out)
    assert (label, word) == row[:2] and text.startswith(row[2]), card(out)


@pytest.mark.mine
def test_a_3g_in_its_own_style_passes(tmp_path):
    shutil.copy(os.path.join(ROOT, 'tests', 'learner', 'webserver3g.py'), str(tmp_path))
    article.write(str(tmp_path), ['client3.py'])
    code, out = check_mine(tmp_path / 'webserver3g.py')
    assert code == 0, out
    passed = int(re.search(r' (\d+) passed', out).group(1))
    assert card(out) == [('3g', 'ok', '%d claims' % passed)] and passed >= 5, out


@pytest.mark.mine
def test_the_report_card_ends_the_run_a_line_per_file_in_colour(tmp_path):
    # 3a as the article has it, 3c with its lesson taken out, the rest missing
    learners(tmp_path, 'webserver3c.py', [EXPECTED['webserver3c.py'][:2]], ['webserver3a.py'])
    code, coloured = check_mine(tmp_path, '--color=yes')
    assert code == 1, coloured
    assert '\x1b[32m\x1b[1mok' in coloured and '\x1b[31m\x1b[1mFAILED' in coloured, coloured
    out = re.sub(r'\x1b\[[0-9;]*m', '', coloured)
    lines = out.splitlines()
    summary = next(n for n, line in enumerate(lines) if re.match(r'^=+ 1 failed, ', line))
    assert re.match(r"^-+ your files, in the article's order -+$", lines[summary + 1]), out
    rows = card(out)
    assert [row[:2] for row in rows] == [('3a', 'ok'), ('3b', 'skipped'), ('3c', 'FAILED')] + [
        (label, 'skipped') for label in ['3d', '3e', '3f', '3g', '3h', 'client3.py']], rows
    assert rows[2][2].endswith(' README.md#3b--3c-fork') and ' … ' in rows[2][2], rows
    assert rows[4][2] == 'no webserver3e.py', rows
    assert all(len(line) <= 80 for line in lines[summary + 1:]), out


def collected(*args, **env):
    """The test IDs --mine ARGS selects (nothing run)."""
    code, out = check_mine(*(args + ('--collect-only', '-q')), **env)
    assert code == 0, out
    return [line for line in out.splitlines() if '::' in line]


@pytest.mark.mine
def test_one_file_a_tilde_and_k_select_as_people_type_them(tmp_path):
    article.write(str(tmp_path / 'mine'))
    everything = collected(tmp_path / 'mine')
    of_3c = [test for test in everything if 'webserver3c.py' in test]
    assert len(of_3c) >= 4, everything
    # every test ID names its file
    assert all(re.search(r'\[.*(webserver3\w\.py)', test) for test in everything), everything
    assert collected(tmp_path / 'mine' / 'webserver3c.py') == of_3c
    assert collected(tmp_path / 'mine', '-k', '3c') == of_3c
    assert collected('~/mine', HOME=str(tmp_path)) == everything
    code, out = check_mine(tmp_path / 'mine' / 'webserver3z.py')
    assert code == 4 and 'name your file as the article does' in out, out


def test_each_mistake_readers_make_gets_its_hint():
    """What Python itself says for each mistake, and the hint it gets."""
    def error(code):
        try:
            compile(code, 'webserver3a.py', 'exec')
        except SyntaxError as e:
            return '%s: %s' % (type(e).__name__, e.msg)
    said = {
        "Python 3's sockets send bytes": [
            "TypeError: a bytes-like object is required, not 'str'",
            'TypeError: must be str, not bytes',
            'TypeError: can only concatenate str (not "bytes") to str'],
        'Python 2 code on Python 3': [
            "ModuleNotFoundError: No module named 'StringIO'", error('print x\n'),
            error('try:\n    pass\nexcept OSError, e:\n    pass\n')],
        'a child came back into the accept() loop': [
            '    conn, addr = listen_socket.accept()\nOSError: [Errno 9] Bad file descriptor'],
        'print() in a signal handler': [
            "RuntimeError: reentrant call inside <_io.BufferedWriter name='<stdout>'>"],
        'os.fork() is Unix only': ["AttributeError: module 'os' has no attribute 'fork'"],
        'another process holds the port': ['OSError: [Errno 98] Address already in use'],
        'a bare `raise`': ['RuntimeError: No active exception to reraise'],
        'each client of client3.py': [
            'client3.py --max-clients 128 was stopped still connecting: the server had '
            'printed 129 requests'],
    }
    for hint, texts in said.items():
        for text in texts:
            assert [line for line in teacher.hints([text]) if line.startswith('hint: ')] == [
                'hint: ' + next(h for p, h, s in teacher.HINTS if h.startswith(hint))
                .splitlines()[0]], text
    assert teacher.hints(['Serving HTTP on port 8888 ...']) == []
