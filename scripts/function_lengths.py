#!/usr/bin/env python3
"""Lists the C++ functions whose bodies run over a length limit.

Finds function bodies in the .cpp/.cc/.cxx/.h/.hpp files under a folder by brace matching, with
strings, character literals, comments and preprocessor lines blanked out first (of an
#if/#elif/#else chain only the first branch is kept, so that its braces balance). A function body
is a `{` at namespace or class level whose preceding text ends with a parameter list `)`,
optionally followed by const/noexcept/override/final/&/&&, a trailing `-> type` and a constructor's
initializer list. Everything inside a body (lambdas, local classes) counts toward that function.
A function's length runs from the line of its name to the line of its closing brace.

Prints each function over the limit as `path:line name lines`, longest first, and exits 1 if
there is any; with --top N it prints the N longest functions instead (exit status as before).

Usage: function_lengths.py [FOLDER] [--limit LINES] [--top N]
"""
import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".cpp", ".cc", ".cxx", ".h", ".hh", ".hpp", ".hxx")
SCOPE_KEYWORDS = {"namespace", "class", "struct", "union", "extern"}
QUALIFIERS = {"const", "volatile", "noexcept", "override", "final", "mutable", "&", "&&", "throw",
              "constexpr", "try"}
TOKEN = re.compile(r"\s*(::|->|&&|[A-Za-z_~][A-Za-z_0-9]*|[0-9][A-Za-z_0-9.']*|\S)")
OPERATOR_SYMBOLS = set("+-*/%^&|~!=<>,[]()")


def blank(text):
    """The text with comments, string and character literals and preprocessor lines turned into
    spaces (newlines kept, so that offsets and line numbers stay the same)."""
    out = list(text)
    n = len(text)
    i = 0
    line_start = True

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":
            j = i
            while j < n and text[j] != "\n":
                if text[j] == "\\" and j + 1 < n and text[j + 1] == "\n":
                    j += 2
                    continue
                if text.startswith("/*", j):  # a block comment may run past the line
                    end = text.find("*/", j + 2)
                    j = n if end < 0 else end + 2
                    continue
                j += 1
            wipe(i, j)
            i = j
            continue
        line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            wipe(i, j)
            i = j
        elif c == '"':
            raw = re.search(r'(?:u8|[uUL])?R$', text[max(0, i - 3):i])
            if raw and not (i - len(raw.group(0)) > 0 and
                            (text[i - len(raw.group(0)) - 1].isalnum() or
                             text[i - len(raw.group(0)) - 1] == "_")):
                open_paren = text.find("(", i)
                delim = text[i + 1:open_paren]
                end = text.find(")" + delim + '"', open_paren)
                j = n if end < 0 else end + len(delim) + 2
            else:
                j = skip_quoted(text, i, '"')
            wipe(i + 1, j - 1)
            i = j
        elif c == "'":
            # A digit separator (1'000) follows a digit inside a number, not a char literal.
            k = i
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] in "_.'"):
                k -= 1
            if k < i and text[k].isdigit():
                i += 1
                continue
            j = skip_quoted(text, i, "'")
            wipe(i + 1, j - 1)
            i = j
        else:
            i += 1
    return "".join(out)


def skip_quoted(text, i, quote):
    """The offset just past the literal that opens at text[i]."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote or text[j] == "\n":
            return j + 1
        j += 1
    return j


def first_branches_only(text):
    """The text with every #elif/#else branch of a conditional blanked, so that code written
    twice for two configurations is counted once."""
    lines = text.split("\n")
    depth_skip = []  # per open #if: whether we are in a later branch
    out = []
    for line in lines:
        directive = re.match(r"\s*#\s*(\w+)", line)
        word = directive.group(1) if directive else None
        if word in ("if", "ifdef", "ifndef"):
            depth_skip.append(False)
        elif word in ("elif", "else") and depth_skip:
            depth_skip[-1] = True
        elif word == "endif" and depth_skip:
            depth_skip.pop()
            out.append(line)
            continue
        out.append(" " * len(line) if any(depth_skip) and word is None else line)
    return "\n".join(out)


def tokenize(text):
    """Tokens of a declaration, with each parenthesised group nested as a list and `operator X`
    merged into one name."""
    flat = [m.group(1) for m in TOKEN.finditer(text)]
    merged = []
    i = 0
    while i < len(flat):
        t = flat[i]
        if t == "operator" and i + 1 < len(flat):
            j = i + 1
            name = "operator"
            if flat[j] == "(" and j + 1 < len(flat) and flat[j + 1] == ")":
                name += "()"
                j += 2
            else:
                while j < len(flat) and flat[j] != "(":
                    name += flat[j] if flat[j] in OPERATOR_SYMBOLS else " " + flat[j]
                    j += 1
            merged.append(name)
            i = j
            continue
        merged.append(t)
        i += 1
    root = []
    stack = [root]
    for t in merged:
        if t == "(":
            group = []
            stack[-1].append(group)
            stack.append(group)
        elif t == ")" and len(stack) > 1:
            stack.pop()
        else:
            stack[-1].append(t)
    return root


def valid_tail(tokens):
    """Whether what follows a parameter list is what may sit between it and a function body."""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if isinstance(t, list):
            return False
        if t in QUALIFIERS:
            i += 1
            if t in ("noexcept", "throw") and i < len(tokens) and isinstance(tokens[i], list):
                i += 1
            continue
        if t == "->":  # trailing return type, perhaps then an initializer list (never both)
            return all(x != ":" for x in tokens[i + 1:] if not isinstance(x, list))
        if t == ":":  # constructor initializer list
            return True
        if t == "[" and tokens[i + 1:i + 2] == ["["]:  # [[attribute]]
            close = next((k for k in range(i + 2, len(tokens) - 1)
                          if tokens[k] == "]" and tokens[k + 1] == "]"), None)
            if close is None:
                return False
            i = close + 2
            continue
        return False
    return True


def function_name(declaration):
    """The name of the function that the declaration before a `{` opens, or None if the brace
    does not open a function body."""
    tokens = tokenize(declaration)
    for i, t in enumerate(tokens):
        if not isinstance(t, list) or i == 0:
            continue
        before = tokens[i - 1]
        if isinstance(before, list) or not valid_tail(tokens[i + 1:]):
            continue
        if before == "]":  # a lambda at namespace level
            return "lambda"
        if before == ">":  # a template's specialization: f<int>(...)
            depth, k = 0, i - 1
            while k >= 0:
                depth += {">": 1, "<": -1}.get(tokens[k], 0) if isinstance(tokens[k], str) else 0
                if depth == 0:
                    break
                k -= 1
            if k < 1 or not isinstance(tokens[k - 1], str):
                continue
            args = "".join(x for x in tokens[k:i] if isinstance(x, str))
            tokens = tokens[:k - 1] + [tokens[k - 1] + args] + tokens[i:]
            i = k
            before = tokens[i - 1]
        if not (before[0].isalpha() or before[0] in "_~" or before.startswith("operator")):
            continue
        if before in ("if", "for", "while", "switch", "catch", "return", "decltype", "sizeof",
                      "alignas", "__attribute__", "requires"):
            continue
        name = [before]
        if before.isupper() and all(isinstance(x, str) for x in t):  # a macro: TEST(Suite, Name)
            name = [before + "(" + " ".join(t).replace(" ,", ",") + ")"]
        k = i - 2
        while k >= 1 and tokens[k] == "::" and isinstance(tokens[k - 1], str):
            name[:0] = [tokens[k - 1], "::"]
            k -= 2
        if k >= 0 and tokens[k] == "::" and not name[0] == "::":
            name.insert(0, "::")
        return "".join(name)
    return None


def functions(path):
    """(line, name, lines) for each function body in one file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read()
    text = blank(first_branches_only(raw))
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line(offset):
        lo, hi = 0, len(newlines)
        while lo < hi:
            mid = (lo + hi) // 2
            if newlines[mid] < offset:
                lo = mid + 1
            else:
                hi = mid
        return lo + 1

    found = []
    # Each open brace: (kind, offset, name, name offset); kind is scope, function, block or init.
    stack = []
    segment = 0  # where the declaration before the next brace at scope level starts
    for i, c in enumerate(text):
        at_scope = not stack or stack[-1][0] == "scope"
        if c == ";" and at_scope:
            segment = i + 1
        elif c == "{":
            if not at_scope:
                stack.append(("block", i, None, None))
                continue
            declaration = text[segment:i]
            init = in_initializer_list(declaration)
            name = None if init else function_name(declaration)
            words = set(re.findall(r"[A-Za-z_]\w*", declaration))
            if name is not None:
                base = re.split(r"[(<]", name.split("::")[-1])[0] if name != "lambda" else "]"
                match = re.search(r"(?<![\w~])" + re.escape(base) + r"(\s*<[^;{}]*?>)?\s*\(",
                                  declaration)
                start = segment + (match.start() if match else 0)
                stack.append(("function", i, name, start))
            elif init:
                stack.append(("init", i, None, None))
            elif words & SCOPE_KEYWORDS or re.search(r"\benum\b", declaration):
                stack.append(("scope", i, None, None))
                segment = i + 1
            else:
                stack.append(("block", i, None, None))
        elif c == "}":
            if not stack:
                continue
            kind, _, name, start = stack.pop()
            if kind == "function":
                first = line(start)
                found.append((first, name, line(i) - first + 1))
            if kind != "init" and (not stack or stack[-1][0] == "scope"):
                segment = i + 1
    return found


def in_initializer_list(declaration):
    """Whether a `{` after this text is a brace-initialised member of a constructor's initializer
    list (`Foo::Foo(int x) : a_{x}`) rather than the constructor's body."""
    tokens = tokenize(declaration)
    if not tokens or isinstance(tokens[-1], list) or tokens[-1] == "}":
        return False
    for i, t in enumerate(tokens):
        if isinstance(t, list) and i > 0 and not isinstance(tokens[i - 1], list):
            tail = tokens[i + 1:]
            if ":" in tail and valid_tail(tail[:tail.index(":") + 1]):
                return True
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="src")
    parser.add_argument("--limit", type=int, default=150, help="longest allowed (lines)")
    parser.add_argument("--top", type=int, help="print the N longest functions instead")
    args = parser.parse_args()
    rows = []
    for root, dirs, files in os.walk(args.folder):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                path = os.path.join(root, name)
                rows += [(lines, path, first, fn) for first, fn, lines in functions(path)]
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    over = [r for r in rows if r[0] > args.limit]
    for lines, path, first, fn in rows[:args.top] if args.top is not None else over:
        print(f"{path}:{first} {fn} {lines}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
