"""Fails when a source file includes a header of a layer its own layer may not use.

Usage: check_includes.py SRC_DIR LAYER=DEP,DEP ... (the map that CMakeLists.txt links by).
"""

import re
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.MULTILINE)


def main():
    src = Path(sys.argv[1])
    allowed = {}
    for entry in sys.argv[2:]:
        layer, _, deps = entry.partition('=')
        allowed[layer] = {layer, *filter(None, deps.split(','))}
    problems = []
    for path in sorted(src.rglob('*')):
        if path.suffix not in ('.h', '.cc') or path.parent == src:
            continue
        layer = path.relative_to(src).parts[0]
        if layer not in allowed:
            problems.append(f'{path}: folder {layer}/ is not a layer in CMakeLists.txt')
            continue
        for used in INCLUDE.findall(path.read_text(encoding='utf-8')):
            if used not in allowed[layer]:
                problems.append(f'{path}: {layer}/ may not include {used}/')
    for problem in problems:
        print(problem)
    print(f'{len(allowed)} layers checked, {len(problems)} violations')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
