#!/usr/bin/env python3
"""Prints the benchmark table from bench/run.sh's results file.

    table.py RESULTS_TSV

Each line of RESULTS_TSV is "metric<TAB>path<TAB>value" (value "-" when not measured);
a metric measured in several rounds keeps its best value (highest rate, lowest
latency, CPU or memory). One row per measurement, one column per path, then
faultline's ratio to direct and to haproxy, and PASS/FAIL where issue 2 sets a target.
"""
import sys

PATHS = ["direct", "faultline", "faultline-serve", "haproxy", "socat", "toxiproxy", "baseline"]

# (metric key, label, which way is better: "higher", "lower" or "info")
METRICS = [
    ("iperf1", "iperf3 1 stream (Gbit/s)", "higher"),
    ("iperf8", "iperf3 8 streams (Gbit/s)", "higher"),
    ("set_rps", "redis SET (req/s)", "higher"),
    ("set_p50", "redis SET p50 (ms)", "lower"),
    ("set_p99", "redis SET p99 (ms)", "lower"),
    ("get_rps", "redis GET (req/s)", "higher"),
    ("get_p50", "redis GET p50 (ms)", "lower"),
    ("get_p99", "redis GET p99 (ms)", "lower"),
    ("conn_rps", "new connection per request (conn/s)", "higher"),
    ("idle_conns", "idle connections held", "info"),
    ("idle_base", "RSS before, idle (MiB)", "lower"),
    ("idle_hwm", "peak RSS, VmHWM (MiB)", "lower"),
    ("idle_per_conn", "RSS per idle connection (KiB)", "lower"),
    ("idle_10k", "RSS at 10,000 idle (MiB, est.)", "lower"),
    ("cpu_iperf1", "proxy CPU, 1 stream (ms/GiB)", "lower"),
    ("cpu_iperf8", "proxy CPU, 8 streams (ms/GiB)", "lower"),
    ("cpu_redis", "proxy CPU per redis request (us)", "lower"),
    ("cpu_conn", "proxy CPU per connection (us)", "lower"),
]

# metric -> (reference path or None for an absolute bound, comparison, threshold, text)
TARGETS = {
    "iperf1": ("haproxy", ">=", 0.8, ">= 0.8x haproxy"),
    "iperf8": ("haproxy", ">=", 0.8, ">= 0.8x haproxy"),
    "set_rps": ("haproxy", ">=", 0.9, ">= 0.9x haproxy"),
    "get_rps": ("haproxy", ">=", 0.9, ">= 0.9x haproxy"),
    "idle_10k": (None, "<", 64.0, "< 64 MiB"),
}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def fmt(value):
    if value is None:
        return "-"
    if abs(value) >= 1000 or value == int(value):
        return "%.0f" % value
    if abs(value) >= 100:
        return "%.1f" % value
    return "%.3g" % value


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def best(values, kind):
    measured = [v for v in values if v is not None]
    if not measured:
        return None
    return min(measured) if kind == "lower" else max(measured)


def verdict(key, results):
    """(target text, PASS/FAIL/-) for faultline's figure of `key`."""
    if key not in TARGETS:
        return "", ""
    ref, op, threshold, text = TARGETS[key]
    value = results.get((key, "faultline"))
    measured = value if ref is None else ratio(value, results.get((key, ref)))
    if measured is None:
        return text, "n/a"
    ok = measured >= threshold if op == ">=" else measured < threshold
    return text, "PASS" if ok else "FAIL"


def main(path):
    rounds = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                rounds.setdefault((parts[0], parts[1]), []).append(number(parts[2]))
    kinds = {key: kind for key, _, kind in METRICS}
    results = {key: best(values, kinds.get(key[0])) for key, values in rounds.items()}

    # A baseline (an older build, `BASELINE=`) gets its own ratio to haproxy, so the
    # two builds compare as the issue asks: each against haproxy in the same run.
    paths = [p for p in PATHS if any(path == p for _, path in rounds)]
    has_baseline = "baseline" in paths
    extra = ["base/haproxy"] if has_baseline else []
    columns = ["measurement"] + paths + ["fl/direct", "fl/haproxy"] + extra + ["target", "result"]
    rows = []
    for key, label, kind in METRICS:
        if not any((key, p) in rounds for p in paths):
            continue
        values = [results.get((key, p)) for p in paths]
        cells = [fmt(v) if (key, p) in rounds else "" for v, p in zip(values, paths)]
        fl = results.get((key, "faultline"))
        ratios = ["", ""] + ([""] if has_baseline else [])
        if kind != "info":
            ratios = [fmt_ratio(ratio(fl, results.get((key, ref)))) for ref in ("direct", "haproxy")]
            if has_baseline:
                ratios.append(fmt_ratio(ratio(results.get((key, "baseline")), results.get((key, "haproxy")))))
        rows.append([label] + cells + ratios + list(verdict(key, results)))

    widths = [max(len(str(r[i])) for r in rows + [columns]) for i in range(len(columns))]
    line = lambda cells: "  ".join(
        (c.ljust(w) if i in (0, len(columns) - 2, len(columns) - 1) else c.rjust(w))
        for i, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    print(line(columns))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print()
    print("fl/direct and fl/haproxy are faultline's figure divided by the other's: above 1 is")
    print("better for rates, below 1 for latencies, memory and CPU. Best of the rounds. 'est.' is")
    print("a linear extrapolation from the connections actually held; socat's memory is the PSS")
    print("summed over its processes (one per connection), so it has no VmHWM.")


def fmt_ratio(value):
    return "-" if value is None else "%.2f" % value


if __name__ == "__main__":
    main(sys.argv[1])
