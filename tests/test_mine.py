"""`python -m pytest --mine=DIR`, checked on files like a learner's: the
article's listings, as tools/article.py makes them from this project's steps
(the additions taken out), and copies of them with a lesson taken out.

The runs of --mine take half a minute, so they have a marker of their own,
outside the default run: `python -m pytest -m mine` (CI runs it).
"""
import os
import re
import subprocess
import sys

import pytest

import article
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
    code, out = check_mine(tmp_path, '--python=' + interpreter, '-rs')
    assert code == 0, out
    selected = int(re.search(r' (\d+) selected', out).group(1))
    passed = int(re.search(r' (\d+) passed', out).group(1))
    assert passed > 30 and 'failed' not in out.splitlines()[-1], out
    # the skipped: only what the interpreter lacks (Flask and Django for 3h),
    # and on Python 3 the restart of accept() on EINTR, which it cannot show
    skipped = re.findall(r'^SKIPPED \[(\d+)\] \S+ (.*)$', out, re.M)
    assert all('requirements-dev.txt' in reason or 'PEP 475' in reason
               for count, reason in skipped), skipped
    assert passed + sum(int(count) for count, reason in skipped) == selected, out


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
