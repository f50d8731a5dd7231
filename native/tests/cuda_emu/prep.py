#!/usr/bin/env python3
"""Copies native/backends/cuda/{*.cu,*.cuh,*.h} to OUT/backends/cuda/, rewritten for the CPU emulator:
  - kernel<<<grid, block[, smem[, stream]]>>>(args)  ->  ::emu::launch_named("kernel", __FILE__, __LINE__,
    kernel, grid, block, smem, stream, args)
  - __launch_bounds__(E[, m]) before a kernel -> removed, and `::emu::launch_bounds_check(E);` as the first
    statement of the kernel body
  - __shared__ T a[..], b[..];  ->  the same + `::emu::shared_init(a, sizeof(a)); ...` (poison per block)
  - cuda_backend.cu's MemoryPool (unless --no-pool-patch): rounds to 64 bytes (the Backend contract's
    minimum) instead of 512, reuses only exactly-sized cached blocks, and poisons a block when it is
    released, so out-of-bounds reads hit a guard page and stale data reads as NaN.
Each rewrite is counted and checked against the number of occurrences in the source.
Usage: prep.py SRC_DIR OUT_DIR [--no-pool-patch]
"""
import os
import re
import sys


def match_paren(s, i, open_ch='(', close_ch=')'):
    """s[i] == open_ch; returns the index of the matching close_ch."""
    depth = 0
    j = i
    while j < len(s):
        c = s[j]
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise ValueError('unbalanced at %d' % i)


def split_top(s):
    parts, depth, cur = [], 0, ''
    for c in s:
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts]


LAUNCH_RE = re.compile(r'([A-Za-z_][\w:]*(?:<[^<>;()]*>)?)\s*<<<')


def rewrite_launches(text, fname):
    out, pos, n = '', 0, 0
    while True:
        m = LAUNCH_RE.search(text, pos)
        if not m:
            break
        name = m.group(1)
        cfg_start = m.end()
        cfg_end = text.index('>>>', cfg_start)
        cfg = split_top(text[cfg_start:cfg_end].replace('\\\n', ' '))
        while len(cfg) < 4:
            cfg.append('0' if len(cfg) == 2 else 'nullptr')
        k = cfg_end + 3
        while text[k].isspace():
            k += 1
        assert text[k] == '(', (fname, name, text[k - 20:k + 20])
        close = match_paren(text, k)
        args = text[k + 1:close]
        line_name = ' '.join(name.split())
        call = '::emu::launch_named("%s", __FILE__, __LINE__, %s, %s, %s, %s, %s%s%s)' % (
            line_name, name, '(' + cfg[0] + ')', '(' + cfg[1] + ')', '(' + cfg[2] + ')', '(' + cfg[3] + ')',
            ', ' if args.strip() else '', args)
        out += text[pos:m.start()] + call
        pos = close + 1
        n += 1
    out += text[pos:]
    assert out.count('<<<') == 0 or '#define GNAS_LAUNCH' in out, (fname, 'unrewritten <<<')
    return out, n


LB_RE = re.compile(r'__launch_bounds__\s*\(')


def rewrite_launch_bounds(text, fname):
    n = 0
    while True:
        m = LB_RE.search(text)
        if not m:
            break
        close = match_paren(text, m.end() - 1)
        expr = split_top(text[m.end():close])[0]
        # the kernel's parameter list: the first '(' after the name that follows
        rest = close + 1
        pm = re.compile(r'\s*([A-Za-z_]\w*)\s*\(').match(text, rest)
        assert pm, (fname, text[rest:rest + 80])
        pclose = match_paren(text, pm.end() - 1)
        brace = text.index('{', pclose)
        assert text[pclose + 1:brace].strip() == '', (fname, text[pclose:brace])
        text = (text[:m.start()] + text[close + 1:brace + 1] + ' ::emu::launch_bounds_check(long(%s));' % expr +
                text[brace + 1:])
        n += 1
    return text, n


SH_RE = re.compile(r'(?<!extern )__shared__\s+([^;]*);')


def rewrite_shared(text, fname):
    n = 0
    out, pos = '', 0
    for m in SH_RE.finditer(text):
        decl = m.group(1)
        # type then declarators: split at top-level commas; the first contains the type
        parts = split_top(decl)
        names = []
        for i, p in enumerate(parts):
            p = re.sub(r'\[.*', '', p).strip()
            names.append(re.findall(r'[A-Za-z_]\w*', p)[-1])
        inits = ' '.join('::emu::shared_init(%s, sizeof(%s));' % (x, x) for x in names)
        out += text[pos:m.end()] + ' ' + inits
        pos = m.end()
        n += 1
    out += text[pos:]
    return out, n


POOL_PATCHES = [
    # 64-byte rounding (the Backend contract) instead of 512: over-reads past a tensor's 64-byte
    # rounded end hit the guard page of the emulated cudaMalloc
    ('kSmallUnit = 512', 'kSmallUnit = 64'),
    # reuse only an exactly-sized cached block (a larger one would hide over-reads)
    ('if (it != free_.end() && it->first / 2 <= size) {', 'if (it != free_.end() && it->first == size) {'),
    # released blocks hold garbage for the next user
    ('      free_.emplace(bs, p);', '      ::emu::poison(p, bs);\n      free_.emplace(bs, p);'),
]


def main():
    src, dst = sys.argv[1], sys.argv[2]
    pool_patch = '--no-pool-patch' not in sys.argv
    os.makedirs(dst, exist_ok=True)
    total = {}
    for f in sorted(os.listdir(src)):
        if not (f.endswith('.cu') or f.endswith('.cuh') or f.endswith('.h')):
            continue
        text = open(os.path.join(src, f)).read()
        n_chev = len(re.findall(r'<<<', text))
        text, nl = rewrite_launches(text, f) if '#define GNAS_LAUNCH' not in text else (text, 0)
        if '#define GNAS_LAUNCH' in text:
            # gemm.cuh: only its non-emulated branch uses <<<
            pass
        elif nl != n_chev:
            raise SystemExit('%s: %d <<< but %d rewritten' % (f, n_chev, nl))
        text, nb = rewrite_launch_bounds(text, f)
        text, ns = rewrite_shared(text, f)
        if f == 'cuda_backend.cu' and pool_patch:
            for a, b in POOL_PATCHES:
                if text.count(a) != 1:
                    raise SystemExit('pool patch pattern not found exactly once: %r' % a)
                text = text.replace(a, b)
        # line numbers are unchanged by the rewrites: report the repo file
        open(os.path.join(dst, f), 'w').write('#line 1 "%s"\n' % os.path.join(src, f) + text)
        total[f] = (nl, nb, ns)
    for f, (nl, nb, ns) in total.items():
        print('prep %-18s launches %2d  launch_bounds %2d  shared %2d' % (f, nl, nb, ns))


if __name__ == '__main__':
    main()
