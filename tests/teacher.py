"""What `python -m pytest --mine=DIR` tells a learner, as a teacher would.

A claim that fails shows first what the learner's code said: a process that
ended before the test was done (the server, a child, client3.py or one of
its clients), its exit status and its last lines, the traceback whole (once:
the same traceback under a later claim is named, not repeated); then a hint
where that output is a mistake readers make; then the claim and the README
lesson. A traceback fails a claim that held, unless it is the lesson. A file
that cannot start fails once, and its other claims skip naming why. A report
card, a line per file, ends the run. conftest.py calls it from its hooks;
support.py runs the processes and the launcher records how they ended.
"""
import re
import textwrap
import types

from support import LEARNER_FILES, LESSONS, MINE_DEADLINE, NotStarted, RanOn

# Tracebacks that are the lesson itself, by the claim's step: there the
# server is meant to die of them.
LESSON_TRACEBACKS = {
    '3d': r'Too many open files|Resource temporarily unavailable',
    '3e': r'Interrupted system call',
    '3g': r'Resource temporarily unavailable',
}

# The mistakes readers make, as their code says them: (what it says, the
# hint, the step whose README lesson tells it).
HINTS = [
    (r"a bytes-like object is required|must be str, not bytes|can only concatenate str "
     r"\(not \"bytes\"\)|can't concat str to bytes|does not support the buffer interface",
     'Python 3\'s sockets send bytes: write what you send as b"""...""" (or\n'
     '.encode() a str), and .decode() what recv() returns', '3a'),
    (r"No module named '?(StringIO|cStringIO|SocketServer|BaseHTTPServer|urllib2)\b|"
     r"Missing parentheses in call to 'print'|multiple exception types must be "
     r"parenthesized|print [^(\n]*\n *\^",
     'Python 2 code on Python 3: io.BytesIO for StringIO.StringIO, print(x),\n'
     '`except E as e`; or check this file on a Python 2.7 with --python=PATH', '3h'),
    (r'(?s)accept\(\).*Bad file descriptor',
     'a child came back into the accept() loop after its work: end it with\n'
     "os._exit(0) once it has closed the client's socket", '3c'),
    (r'RuntimeError: reentrant call',
     'print() in a signal handler ran while the code it interrupted printed, which\n'
     'Python 3 refuses: let the handler print nothing, or write with os.write()', '3e'),
    (r"module 'os' has no attribute 'fork'|'module' object has no attribute 'fork'",
     'os.fork() is Unix only: on Windows, run the servers and these checks in WSL', '3c'),
    (r'No active exception to reraise|exceptions must be old-style classes or derived',
     'a bare `raise` ran with no exception to re-raise: check where `else:` sits\n'
     '(it belongs to the `if` inside `except`, not to the `try`)', '3f'),
    (r'Address already in use',
     'another process holds the port this file binds (a server of yours still\n'
     'running?): the checks move port 8888 alone to a free port', '3a'),
    (r'client3\.py --max-clients \d+ was stopped',
     'each client of client3.py should exit after one connection: in the article\n'
     'os._exit(0) sits inside its loop over connections (or give --max-conns=1)', '3g'),
]


class Teacher(object):
    """The session's memory: what was shown already, files that cannot be
    checked, and each claim's outcome for the report card."""

    def __init__(self, directory, found, only=None):
        self.directory, self.found = directory, found  # the learner's, and its files
        self.only = only  # --mine=DIR/FILE: that file's row alone on the card
        self.shown = {}  # a traceback's text: the test it was shown under
        self.broken = {}  # file: why its claims cannot be checked, in a line
        self.outcomes = []  # (file, 'passed' 'failed' 'skipped' 'waits', what, step)

    def skip_reason(self, files):
        """Why a claim of these files skips: one is missing, or broken."""
        missing = [name for name in files if name not in self.found]
        if missing:
            return '%s: not in %s, not checked' % (' and '.join(missing), self.directory)
        broken = [self.broken[name] for name in files if name in self.broken]
        return broken[0] if broken else None

    def judge(self, report, files, claim, error, processes, test):
        """Rewrite a claim test's report: what the processes said first, a
        hint, then the claim; fail a claim that held where they wrote a
        traceback; note the outcome for the card."""
        step, text = claim
        if report.when == 'setup' and report.skipped:
            self.outcomes.extend((name, 'skipped', 'no %s' % name, step)
                                 for name in files if name not in self.found)
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ''
            if 'PEP 475' in reason:  # a claim only Python 2.7 can show
                self.outcomes.append((files[0], 'python2', reason, step))
            if 'client3.py' in self.broken and files[0] not in self.broken:
                self.outcomes.append((files[0], 'waits', 'client3.py', step))
            return
        if report.when != 'call':
            return
        starting = isinstance(error, NotStarted)
        found = said(processes, step, starting)
        wrong = [s for s in found if not s.lesson]  # a lesson's traceback is no mistake
        blamed = 'client3.py' if isinstance(error, RanOn) or any(
            s.name == 'client3.py' for s in wrong) else files[0]
        lines = [(line, BOLD_RED if line and not line.startswith(' ') else {})
                 for line in self.section(wrong if report.passed else found, test)]
        lines += [(line, YELLOW) for line in hints(
            [s.text for s in wrong] + [str(error or '')])]
        if report.failed and starting:
            what = found[0].summary if found else str(error)
            self.broken[files[0]] = '%s cannot start (%s): see %s' % (files[0], what, test)
            report.longrepr = ClaimFailed([(
                '%s cannot start, so its claims cannot be checked (the others skip):'
                % files[0], BOLD_RED)] + lines, message=what)
            self.outcomes.append((files[0], 'failed', 'cannot start: ' + what,
                                  files[0][len('webserver'):-3]))
        elif report.failed and not isinstance(report.longrepr, str):
            what = wrong[0].summary if wrong else text
            if blamed == 'client3.py':  # its other claims skip, the step's wait for it
                self.broken[blamed] = 'client3.py does not work (%s): see %s' % (what, test)
                self.outcomes.append((files[0], 'waits', what, step))
            self.outcomes.append((blamed, 'failed', what, step))
            report.longrepr = ClaimFailed(lines + self.claim(files, claim, wrong),
                                          report.longrepr)
        elif report.passed and wrong:
            report.outcome = 'failed'
            what = '%s wrote a traceback: %s' % (wrong[0].name, wrong[0].summary)
            report.longrepr = ClaimFailed(lines + self.claim(files, claim, 'held'),
                                          message=what)
            self.outcomes.append((blamed, 'failed', what, step))
        elif report.passed:
            self.outcomes.extend((name, 'passed', text, step) for name in files)
        elif report.skipped:
            self.outcomes.append((files[0], 'skipped', str(report.longrepr[-1]), step))

    def section(self, found, test):
        """Lines: each thing said, with its text whole the first time."""
        lines = []
        for s in found:
            lines.append(s.headline + ('  (the lesson: expected)' if s.lesson else ''))
            if s.key in self.shown and self.shown[s.key] != test:
                lines.append('    (the same as above, ending: %s)' % s.summary)
            else:
                self.shown.setdefault(s.key, test)
                lines.extend('    ' + line for line in s.text.splitlines())
        return lines

    def claim(self, files, claim, said):
        """Lines: the claim and where the README tells it, after what the
        code said (said: the things said, or 'held')."""
        step, text = claim
        names = ' and '.join(files)
        if said == 'held':  # in lines of 79, the directory whole
            head = '\n'.join(textwrap.wrap(
                'the claim held, but %s wrote the traceback above, and a step that works as '
                'the article says writes none (%s):' % (names, self.directory), 79,
                break_long_words=False, break_on_hyphens=False))
        else:
            head = '%s%s %s not show what the article says (%s):' % (
                'so ' if said else '', names, 'do' if len(files) > 1 else 'does',
                self.directory)
        return [(line, BOLD_RED) for line in head.splitlines() + textwrap.wrap(
            text, 79, initial_indent='    ', subsequent_indent='    ') + [
            '    the lesson: %s' % LESSONS[step]]] + [('', {})]

    def card(self):
        """[(label, word, text, README link)]: one per file, in the article's order."""
        rows = []
        for name in [self.only] if self.only else LEARNER_FILES:
            mine = [o for o in self.outcomes if o[0] == name]
            if not mine:
                continue
            label = name[len('webserver'):-3] if name.startswith('webserver') else name
            count = {kind: len([o for o in mine if o[1] == kind])
                     for kind in ('passed', 'skipped', 'waits', 'python2')}
            failed = [o for o in mine if o[1] == 'failed']
            if name not in self.found:
                rows.append((label, 'skipped', 'no %s' % name, None))
            elif failed:
                more = ' (and %d more)' % (len(failed) - 1) if len(failed) > 1 else ''
                rows.append((label, 'FAILED', failed[0][2] + more, LESSONS[failed[0][3]]))
            elif count['passed']:
                rows.append((label, 'ok', '%d claim%s%s%s%s' % (
                    count['passed'], 's' if count['passed'] > 1 else '',
                    ', %d skipped' % count['skipped'] if count['skipped'] else '',
                    ', %d on Python 2.7 only' % count['python2']
                    if count['python2'] else '',
                    ', %d more need%s a working client3.py' % (
                        count['waits'], 's' if count['waits'] == 1 else '')
                    if count['waits'] else ''), None))
            elif count['waits']:
                rows.append((label, 'skipped', 'needs a working client3.py', None))
            else:
                rows.append((label, 'skipped', mine[0][2], None))
        return rows

    def print_card(self, reporter):
        """The card, after pytest's summary, its words in colour."""
        rows = self.card()
        if not rows:
            return
        width = getattr(reporter._tw, 'fullwidth', 80)
        reporter.write_sep('-', "your files, in the article's order")
        for label, word, text, link in rows:
            reporter.write('%-3s ' % label)
            reporter.write('%-8s' % word, **COLOURS[word])
            room = width - 1 - max(len(label), 3) - 9
            if link and room - len(link) < 30:  # the link under the text
                reporter.write(fit(text, None, room) + '\n' + ' ' * 12)
                text, link = link, None
            reporter.write(fit(text, link, room) + '\n')


BOLD_RED = dict(red=True, bold=True)
YELLOW = dict(yellow=True, bold=True)
COLOURS = {'ok': dict(green=True, bold=True), 'FAILED': BOLD_RED, 'skipped': YELLOW}


class ClaimFailed(object):
    """A failure's report under --mine: lines (text, markup) as the Teacher
    says them, then pytest's own report of the failure, if any."""

    def __init__(self, lines, longrepr=None, message=None):
        self.lines, self.longrepr = lines, longrepr
        if longrepr is None:  # the short summary's line
            self.reprcrash = types.SimpleNamespace(message=message)

    def toterminal(self, tw):
        for line, markup in self.lines:
            tw.line(line, **markup)
        if self.longrepr is not None:
            self.longrepr.toterminal(tw)

    def __getattr__(self, name):  # reprcrash, for the short summary's line
        if name in ('longrepr', 'lines'):  # not set yet (a copy being made)
            raise AttributeError(name)
        return getattr(self.longrepr, name)

    def __str__(self):
        return '\n'.join([line for line, markup in self.lines] + (
            [str(self.longrepr)] if self.longrepr is not None else []))


def said(processes, step, starting=False):
    """What the processes of a test said, those that are the lesson of step
    marked. starting: the server never listened (said so)."""
    found = []
    for process in processes:
        client = process.name == 'client3.py'
        deaths = process.deaths()
        output = process.output
        lesson = LESSON_TRACEBACKS.get(step)
        status = process.ended_on_its_own()
        main = [d['traceback'] for d in deaths if d['main']]
        if status is not None and not (client and status == 0):
            found.append(Said(process.name, '%s%s exited with status %d %s:' % (
                process.name, '' if client else ' (the server)',
                status, 'before it listened' if starting else 'before the test was done'),
                tail(output, main[0] if main else None, 8 if main else 20), bool(
                    lesson and main and re.search(lesson, main[0])),
                main[0] if main else None))
        elif getattr(process, 'cut_short', None):
            found.append(Said(process.name, '%s; its last lines:' % process.cut_short,
                              tail(output, None, 6),
                              summary=process.cut_short.replace('client3.py ', '', 1)))
        elif starting:
            found.append(Said(process.name, '%s did not listen within %d s; its output:' % (
                process.name, MINE_DEADLINE), tail(output, None, 20)))
        # its children, by traceback; not those that received nothing: they
        # served a connection the test opened and closed silently
        children = {}
        for death in deaths:
            if not death['main'] and (client or death['received']):
                children.setdefault(death['traceback'], []).append(death)
        for text, same in children.items():
            found.append(Said(process.name, '%s: %s exited with status %d%s' % (
                process.name, ('%d of its clients' if client else '%d children') % len(same)
                if len(same) > 1 else 'a client' if client else 'a child',
                same[0]['status'], ', each with this traceback:' if len(same) > 1 else
                ', with this traceback:'), text.rstrip('\n'),
                bool(lesson and re.search(lesson, text))))
        # tracebacks printed by code that went on (caught and printed)
        ended = [d['traceback'] for d in deaths]
        for text in tracebacks_in(output):
            if not any(text in death for death in ended):
                found.append(Said(process.name, '%s printed a traceback and went on:'
                                  % process.name, text, bool(lesson and re.search(lesson, text))))
    return found


class Said(object):
    """One thing the learner's code said: which file and process, how it
    ended, and its text (a traceback, or the output's last lines)."""

    def __init__(self, name, headline, text, lesson=False, key=None, summary=None):
        self.name, self.headline, self.text, self.lesson = name, headline, text, lesson
        self.key = key or text  # the same traceback, from another test: shown once
        lines = [line for line in text.splitlines() if line.strip()]
        # in a line: the exception a traceback ends with
        self.summary = summary or (lines[-1].strip() if lines else headline)


def hints(texts):
    """The hints whose pattern matches any of texts, each once: lines."""
    lines = []
    for pattern, hint, step in HINTS:
        if any(re.search(pattern, text) for text in texts):
            first, _, rest = hint.partition('\n')
            lines.append('hint: ' + first)
            lines.extend('      ' + line for line in rest.splitlines())
            lines.append('      see ' + LESSONS[step])
    return lines


def tracebacks_in(output):
    """Every traceback block in an output (up to its exception's line)."""
    return re.findall(r'^Traceback \(most recent call last\):\n(?:[ \t].*\n)*.*$', output,
                      re.M)


def tail(output, traceback, lines=8):
    """The output's last lines: the traceback whole and up to `lines` before
    it; without a traceback, the last `lines`."""
    at = output.rfind(traceback) if traceback else -1
    if at < 0:
        return '\n'.join(output.rstrip('\n').splitlines()[-lines:])
    before = output[:at].rstrip('\n').splitlines()[-lines:]
    return '\n'.join(before + traceback.rstrip('\n').splitlines())


def fit(text, link, width):
    """text, cut with '…' so that text and link fit in width."""
    room = width - (len(link) + 1 if link else 0)
    if len(text) > room:
        text = text[:max(room - 2, 10)].rstrip() + ' …'
    return text + (' ' + link if link else '')
