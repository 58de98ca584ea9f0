"""The diffs a learner reads: each step against the one before, and 3g's
serve_forever() loop against 3i's. The README embeds them all.

    python tools/diffs.py           # print the README's embedded diffs
    python tools/diffs.py --write   # rewrite them in both READMEs from the scripts
    python tools/diffs.py --count   # code lines each step diff changes, vs the article

In README.md and README.ru.md each diff sits between `<!-- diff webserver3a.py
webserver3b.py -->` and `<!-- /diff -->`; tests/test_readme.py fails when one
drifts from the files.
"""
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
# The lesson path, in English and in Russian: the same code blocks in both
READMES = [README, os.path.join(ROOT, 'README.ru.md')]
STEPS = ['webserver3%s.py' % step for step in 'abcdefg']
PAIRS = list(zip(STEPS, STEPS[1:]))
# Beyond the article's steps, only the parts that carry the lesson: 3g's loop
# against 3h's, and 3h's serve_forever() and handle_one_request() against 3i's
METHODS = {('webserver3g.py', 'webserver3h.py'): None,
           ('webserver3h.py', 'webserver3i.py'): ('serve_forever', 'handle_one_request')}
BLOCK = re.compile(r'(<!-- diff (\S+) (\S+) -->\n)(.*?)(<!-- /diff -->)', re.S)
BOX_BORDER = re.compile(r'^#{8,}\s*$')
BOX_TEXT = re.compile(r'^#(.*?)#\s*$')
# The code lines the article's own listings change from each step to the next
# (comments and blank lines aside). A step diff may change at most 2 more: the
# configuration (HOST, PORT, SLEEP_SECONDS) a reader meets before the lesson.
ARTICLE_CHANGES = dict(zip(PAIRS, [2, 20, 14, 17, 20, 11]))
ALLOWANCE = 2
CONFIGURATION = re.compile(r'os\.environ|SLEEP_SECONDS =|SystemExit')


def lines(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read().splitlines()


def serve_forever_loop(name):
    """The `while True:` loop of serve_forever(), dedented to 3g's indentation."""
    source = lines(name)
    start = next(i for i, line in enumerate(source) if 'def serve_forever' in line)
    start = next(i for i in range(start, len(source)) if source[i].strip() == 'while True:')
    indent = len(source[start]) - len(source[start].lstrip())
    end = start + 1
    while end < len(source) and (not source[end].strip() or
                                 len(source[end]) - len(source[end].lstrip()) > indent):
        end += 1
    while not source[end - 1].strip():
        end -= 1
    return [line[indent - 4:] for line in source[start:end]]


def method(name, method_name):
    """A method of WSGIServer, its lines as they stand in the file."""
    source = lines(name)
    start = next(i for i, line in enumerate(source) if 'def %s(' % method_name in line)
    end = start + 1
    while end < len(source) and not re.match(r'    (def |@)|\S', source[end]):
        end += 1
    while not source[end - 1].strip():
        end -= 1
    return source[start:end]


def diff(a, b):
    """`diff -u a b` without the timestamps; beyond 3g, the parts in METHODS."""
    if (a, b) in METHODS and not METHODS[a, b]:
        old, new = serve_forever_loop(a), serve_forever_loop(b)
        a, b = a + ' (serve_forever)', b + ' (WSGIServer.serve_forever)'
    elif (a, b) in METHODS:
        old = sum([method(a, m) + [''] for m in METHODS[a, b]], [])[:-1]
        new = sum([method(b, m) + [''] for m in METHODS[a, b]], [])[:-1]
        a, b = ['%s (WSGIServer.%s)' % (n, ', '.join(METHODS[a, b])) for n in (a, b)]
    else:
        old, new = lines(a), lines(b)
    return '\n'.join(difflib.unified_diff(old, new, a, b, lineterm='')) + '\n'


def changed(a, b):
    """(removed, added, blank-only hunks' lines) of a step diff."""
    old, new = lines(a), lines(b)
    removed, added, blank = [], [], []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != 'equal':
            if not any(line.strip() for line in old[i1:i2] + new[j1:j2]):
                blank += old[i1:i2] + new[j1:j2]
            else:
                removed += old[i1:i2]
                added += new[j1:j2]
    return removed, added, blank


def noise(a, b):
    """The changed lines of a step diff that are not the lesson: a blank line
    alone, a header box re-padded, a comment changed on an unchanged line."""
    removed, added, blank = changed(a, b)
    found = ['blank line'] * len(blank)

    def code(line):
        return line.split('  #', 1)[0].rstrip()

    def box_words(line):
        match = BOX_TEXT.match(line)
        return ' '.join(match.group(1).split()) if match else None

    def border(line):
        return 'border' if BOX_BORDER.match(line) else None

    def box_text(line):
        return None if BOX_BORDER.match(line) else box_words(line)

    def commented_code(line):
        if line.strip() and not line.lstrip().startswith('#'):
            return code(line)

    for kind, key in [('box border', border), ('box text', box_text),
                      ('comment', commented_code)]:
        old = [key(line) for line in removed]
        new = [key(line) for line in added]
        for value in set(old) & set(new) - {None}:
            found += [kind] * 2 * min(old.count(value), new.count(value))
    return found


def code_changes(a, b):
    """The code lines (not comments, not blank) a step diff removes or adds."""
    def code(name):
        return [line.rstrip() for line in lines(name)
                if line.strip() and not line.lstrip().startswith('#')]
    return [line for line in difflib.unified_diff(code(a), code(b), lineterm='', n=0)
            if line[:1] in '+-' and not line.startswith(('+++', '---'))]


def configuration(a, b):
    """The changed code lines that read settings, not the lesson."""
    return [line for line in code_changes(a, b) if CONFIGURATION.search(line)]


def fenced(a, b):
    return '```diff\n' + diff(a, b) + '```\n'


def embed(text):
    """README text with every embedded diff regenerated from the files."""
    return BLOCK.sub(lambda m: m.group(1) + fenced(m.group(2), m.group(3)) + m.group(5), text)


def embedded(text):
    """{(a, b): the diff block as the README has it}."""
    return {(m.group(2), m.group(3)): m.group(4) for m in BLOCK.finditer(text)}


if __name__ == '__main__':
    if sys.argv[1:] == ['--write']:
        for readme in READMES:
            with open(readme) as f:
                text = f.read()
            with open(readme, 'w') as f:
                f.write(embed(text))
    elif sys.argv[1:] == ['--count']:
        print('| diff | code lines changed | the article changes | configuration |')
        print('|---|---|---|---|')
        for a, b in PAIRS:
            print('| %s -> %s | %d | %d | %d |' % (
                a, b, len(code_changes(a, b)), ARTICLE_CHANGES[a, b],
                len(configuration(a, b))))
    elif sys.argv[1:]:
        sys.exit('usage: python tools/diffs.py [--write | --count]')
    else:
        for a, b in PAIRS + list(METHODS):
            sys.stdout.write(fenced(a, b) + '\n')
