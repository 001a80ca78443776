#!/usr/bin/env python3
"""Finishes the page argument-parser's generate-manual plugin writes (`make man`).

    faultline --experimental-dump-help | scripts/man-page.py GENERATED.1 > man/faultline.1

The generator leaves out what --help shows and the page should too; from the same
dump of the commands (standard input) this
- puts each option's default after its abstract, as --help does: "(default: 5s)";
- writes EXIT STATUS from the top-level help's "Exit status: 0 ...; 1 ...; ..." in
  place of the generic "exits 0 on success, and >0 if an error occurs";
- writes .Pp, not blank lines, between paragraphs, as mdoc wants.

The generator writes one .It line per shown argument and per subcommand, in the
dump's order (each command's arguments, then each subcommand in turn), which is how
an argument's line is found; each is checked against the argument's name, so a
generator that changes its layout stops this script rather than misplacing defaults.
"""

import json
import re
import sys


def escape(text):
    """Text as mdoc reads it on a line of its own."""
    text = text.replace("\\", "\\e")
    return "\\&" + text if text.startswith((".", "'")) else text


def arguments_in_page_order(command):
    """(argument, command path) for each .It the generator writes, subcommands as None."""
    for argument in command.get("arguments", []):
        if argument.get("shouldDisplay", True):
            yield argument
    for subcommand in command.get("subcommands", []):
        yield None
        yield from arguments_in_page_order(subcommand)


def exit_statuses(discussion):
    """[("0", "fine"), ...] from 'Exit status: 0 fine; 1 ...; 3 ....'"""
    # The paragraph only: it ends at the first blank line, or with the discussion.
    match = re.search(r"Exit status: ((?:[^\n]|\n(?!\n))*?)\.?(?:\n\n|$)", discussion or "")
    if not match:
        sys.exit("man-page.py: the top-level help has no 'Exit status:' paragraph")
    text = " ".join(match.group(1).split())
    return re.findall(r"(\d) (.*?)(?=; \d |$)", text)


def main():
    dump = json.load(sys.stdin)["command"]
    with open(sys.argv[1]) as page:
        lines = page.read().split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line

    arguments = list(arguments_in_page_order(dump))
    items = [i for i, line in enumerate(lines) if line.startswith(".It ")]
    if len(items) != len(arguments):
        sys.exit(f"man-page.py: {len(items)} .It lines for {len(arguments)} arguments and subcommands")
    insertions = []
    for index, argument in zip(items, arguments):
        line = lines[index]
        if argument is None:
            if not line.startswith(".It Em "):
                sys.exit(f"man-page.py: expected a subcommand, found {line!r}")
            continue
        name = (argument.get("preferredName") or {}).get("name") or argument.get("valueName", "")
        if line.startswith(".It Em ") or name not in line:
            sys.exit(f"man-page.py: expected argument {name!r}, found {line!r}")
        if "defaultValue" not in argument:
            continue
        default = f"(default: {argument['defaultValue']})"
        following = lines[index + 1] if index + 1 < len(lines) else "."
        if following and not following.startswith("."):
            insertions.append((index + 1, "replace", f"{following} {escape(default)}"))
        else:
            insertions.append((index + 1, "insert", escape(default)))
    for index, kind, text in reversed(insertions):
        if kind == "replace":
            lines[index] = text
        else:
            lines.insert(index, text)

    statuses = exit_statuses(dump.get("discussion"))
    at = lines.index(".Ex -std")
    lines[at : at + 1] = [".Bl -tag -width 2n"] + [
        part for status, meaning in statuses for part in (f".It {status}", escape(meaning[0].upper() + meaning[1:] + "."))
    ] + [".El"]

    sys.stdout.write("".join((".Pp" if line == "" else line) + "\n" for line in lines))


main()
