#!/usr/bin/env python3
"""Prints the rows of one or more claims.csv files (written by `shatter reproduce`) as a
Markdown table: claim, setting, paper value and agreement interval, shatter's estimate with
its 95% interval, verdict. Context rows (no agreement interval) are skipped unless --context.

    python3 bench/claims_markdown.py reproduce/cod/claims.csv [--context]
"""
import csv
import sys


def sig(text):
    if text == "":
        return ""
    try:
        x = float(text)
    except ValueError:
        return text
    if x == float("inf"):
        return "inf"
    if x == float("-inf"):
        return "-inf"
    return f"{x:.3g}"


def main(argv):
    context = "--context" in argv
    paths = [a for a in argv if not a.startswith("--")]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    print("| experiment | claim | setting | paper (agreement) | measured [95% interval] | verdict |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if not row["agree_low"] and not row["agree_high"] and not context:
                    continue
                interval = ""
                if row["ci_low"] or row["ci_high"]:
                    interval = f" [{sig(row['ci_low'])}, {sig(row['ci_high'])}]"
                agree = ""
                if row["agree_low"] or row["agree_high"]:
                    agree = f" ({sig(row['agree_low'])} to {sig(row['agree_high'])})"
                print(
                    f"| {row['experiment']} | {row['claim']} | {row['setting']} | "
                    f"{sig(row['paper'])}{agree} | {sig(row['measured'])}{interval} | "
                    f"{row['verdict'] or 'context'} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
