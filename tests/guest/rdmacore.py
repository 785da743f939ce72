#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""rdma-core's own test suite (tests/run_tests.py, which Debian's
python3-pyverbs ships under /usr/share/doc/rdma-core/tests) on a device.

Runs the suite --runs times on --dev. A run passes when unittest reports no
failure and no error, and every test it skipped names a reason listed in
--skips (what the device does not do, or what needs other hardware): a test
that is skipped for any other reason, say "Create UD QP ... is not
supported" for one random draw of QP caps out of several, fails the run,
so a verb that works in one run and is refused in the next cannot hide.
With --compare DEV2 the suite also runs once on DEV2 (rdma_rxe) and the
counts of both are printed side by side, as figures.

Prints one TAP line per run; exits non-zero when one failed.
"""
import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = '/usr/share/doc/rdma-core/tests'
# unittest -v: "test_x (tests.mod.Class.test_x)", then (on the same line,
# or after the first docstring line or the test's own output) " ... RESULT".
NAME = re.compile(r'^(test\w*) \(([\w.]+)\)(.*)$')
RESULT = re.compile(r'(?:^|\.\.\. )(ok|FAIL|ERROR|expected failure|'
                    r'unexpected success|skipped (.*))$')


def unpack(dst):
    """A copy of rdma-core's tests with the gzipped modules unpacked."""
    shutil.copytree(SRC, dst)
    for name in os.listdir(dst):
        if name.endswith('.gz'):
            path = os.path.join(dst, name)
            with gzip.open(path, 'rb') as zin, open(path[:-3], 'wb') as out:
                shutil.copyfileobj(zin, out)
            os.unlink(path)


def run_suite(tests, dev):
    """One run of the suite on dev: its output and exit status."""
    proc = subprocess.run([sys.executable, '-u',
                           os.path.join(tests, 'run_tests.py'),
                           '--dev', dev, '-v'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900, check=False)
    return proc.stdout, proc.returncode


def parse(out, dev):
    """Per test: its status, and for a skip the reason (dev -> DEV)."""
    results = {}
    cur = None
    for line in out.splitlines():
        line = line.rstrip()
        m = NAME.match(line)
        if m:
            cur, line = m.group(2), m.group(3)
        r = RESULT.search(line)
        if not r or cur is None:
            continue
        if r.group(2) is not None:
            reason = r.group(2).strip()
            if len(reason) >= 2 and reason[0] == reason[-1] and \
                    reason[0] in '\'"':
                reason = reason[1:-1]
            results[cur] = ('skip', reason.replace(dev, 'DEV'))
        elif r.group(1) in ('ok', 'expected failure'):
            results[cur] = ('ok', None)
        else:
            results[cur] = ('FAIL', None)
        cur = None
    return results


def counts(results):
    ran = sum(1 for s, _ in results.values() if s == 'ok')
    skipped = sum(1 for s, _ in results.values() if s == 'skip')
    bad = sum(1 for s, _ in results.values() if s in ('FAIL', 'ERROR'))
    return ran, skipped, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dev', default='mirror0')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--skips', required=True,
                    help='file: one allowed skip reason per line (DEV for '
                         'the device name, # comments)')
    ap.add_argument('--compare', help='a second device to run once on')
    args = ap.parse_args()

    with open(args.skips) as f:
        allowed = {l.rstrip('\n') for l in f
                   if l.strip() and not l.startswith('#')}
    work = tempfile.mkdtemp()
    tests = os.path.join(work, 'tests')
    unpack(tests)
    failed = 0
    seen = set()
    for run in range(1, args.runs + 1):
        out, rc = run_suite(tests, args.dev)
        results = parse(out, args.dev)
        ran, skipped, bad = counts(results)
        total = re.search(r'^Ran (\d+) tests?', out, re.M)
        if total and int(total.group(1)) != len(results):
            print('# run %d: unittest ran %s tests, %d results read' %
                  (run, total.group(1), len(results)))
        unknown = sorted({(n, r) for n, (s, r) in results.items()
                          if s == 'skip' and r not in allowed})
        seen |= {r for s, r in results.values() if s == 'skip'}
        problems = []
        if rc or bad or not results:
            problems.append('unittest exit %d, %d failed or in error' %
                            (rc, bad))
        if unknown:
            problems.append('%d skipped for a reason not listed' %
                            len(unknown))
        print('%s - run %d on %s: %d ran, %d skipped%s' %
              ('not ok' if problems else 'ok', run, args.dev, ran, skipped,
               ': ' + '; '.join(problems) if problems else ''))
        for name, (status, _) in sorted(results.items()):
            if status in ('FAIL', 'ERROR'):
                print('#   %s: %s' % (status, name))
        for name, reason in unknown:
            print('#   skipped %s: %s' % (name, reason))
        if problems:
            failed += 1
            print('# output of run %d:' % run)
            for line in out.splitlines()[-60:]:
                print('#   ' + line)
    print('ok - the RoCEv2 path # SKIP rdma-core\'s suite runs both ends '
          'of each connection on the one device it is given')
    unused = sorted(allowed - seen)
    if unused:
        print('# listed skip reasons no run gave (the device may do more '
              'now; shorten the list):')
        for reason in unused:
            print('#   ' + reason)
    if args.compare:
        out, rc = run_suite(tests, args.compare)
        ran, skipped, bad = counts(parse(out, args.compare))
        print('# figures: on %s %d ran, %d skipped, %d failed or in error '
              '(exit %d)' % (args.compare, ran, skipped, bad, rc))
    shutil.rmtree(work, ignore_errors=True)
    print('%d passed, %d failed' % (args.runs - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
