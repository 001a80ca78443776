#!/usr/bin/env python3
"""Prints the benchmark tables from bench/run.sh's results file.

    table.py RESULTS_TSV

Each line of RESULTS_TSV is "metric<TAB>path<TAB>value" (value "-" when not measured);
a metric measured in several rounds keeps its best value (highest rate, lowest
latency, CPU or memory), except a peak RSS, which keeps the highest (the worst).
Three tables:
  1. one row per measurement, one column per path, then faultline's ratio to direct
     and to haproxy, and PASS/FAIL where issue 2 or 14 sets a target;
  2. issue 14's variants of faultline (a 0 ms delay on every chunk, framing with a
     log, a 5 ms delay), each against faultline passthrough in the same run;
  3. UDP (bench/udp.sh): delivered rate per offered rate, faultline against nginx's
     stream proxy.
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
    ("http_rps", "HTTP keep-alive, wrk (req/s)", "higher"),
    ("http_p50", "HTTP p50 (ms)", "lower"),
    ("http_p99", "HTTP p99 (ms)", "lower"),
    ("conn_rps", "new connection per request (conn/s)", "higher"),
    ("idle_conns", "idle connections held", "info"),
    ("idle_base", "RSS before, idle (MiB)", "lower"),
    ("idle_hwm", "peak RSS, VmHWM (MiB)", "lower"),
    ("idle_per_conn", "RSS per idle connection (KiB)", "lower"),
    ("idle_10k", "RSS at 10,000 idle (MiB, est.)", "lower"),
    ("idle_bulk_conns", "idle after 256 KiB each way: connections", "info"),
    ("idle_bulk_per_conn", "idle after 256 KiB each way: KiB per connection", "lower"),
    ("idle_bulk_10k", "idle after 256 KiB each way: MiB at 10,000 (est.)", "lower"),
    ("rss_iperf8", "peak RSS, iperf3 8 streams (MiB)", "peak"),
    ("cpu_iperf1", "proxy CPU, 1 stream (ms/GiB)", "lower"),
    ("cpu_iperf8", "proxy CPU, 8 streams (ms/GiB)", "lower"),
    ("cpu_redis", "proxy CPU per redis request (us)", "lower"),
    ("cpu_http", "proxy CPU per HTTP request (us)", "lower"),
    ("cpu_conn", "proxy CPU per connection (us)", "lower"),
]

# metric -> (reference path or None for an absolute bound, comparison, threshold, text)
TARGETS = {
    "iperf1": ("haproxy", ">=", 0.8, ">= 0.8x haproxy"),
    "iperf8": ("haproxy", ">=", 0.8, ">= 0.8x haproxy"),
    "set_rps": ("haproxy", ">=", 0.9, ">= 0.9x haproxy"),
    "get_rps": ("haproxy", ">=", 0.9, ">= 0.9x haproxy"),
    "idle_10k": (None, "<", 64.0, "< 64 MiB"),
    "http_rps": ("haproxy", ">=", 1.0, ">= 1.0x haproxy (#14)"),
}

# Issue 14's variants, each set against faultline passthrough ("faultline") in the same
# run: (variant path, metric, label, target). A target is ("cost", MAX) for a rate that
# may fall at most MAX below passthrough, ("below", MIB) for an absolute bound, or None.
VARIANT_ROWS = [
    ("fl-noop", "iperf8", "0 ms delay every chunk: iperf3 8 streams (Gbit/s)", ("cost", 0.10)),
    ("fl-noop", "cpu_iperf8", "0 ms delay every chunk: CPU, 8 streams (ms/GiB)", None),
    ("fl-noop", "http_rps", "0 ms delay every chunk: HTTP keep-alive (req/s)", ("cost", 0.10)),
    ("fl-noop", "http_p99", "0 ms delay every chunk: HTTP p99 (ms)", None),
    ("fl-noop", "cpu_http", "0 ms delay every chunk: CPU per HTTP request (us)", None),
    ("fl-http", "http_rps", "--framing http, no log: HTTP keep-alive (req/s)", None),
    ("fl-http", "cpu_http", "--framing http, no log: CPU per HTTP request (us)", None),
    ("fl-http-log", "http_rps", "--framing http --log: HTTP keep-alive (req/s)", ("cost", 0.15)),
    ("fl-http-log", "http_p99", "--framing http --log: HTTP p99 (ms)", None),
    ("fl-http-log", "cpu_http", "--framing http --log: CPU per HTTP request (us)", None),
    ("fl-http-log", "log_messages_http", "--framing http --log: message events logged", None),
    ("fl-http-log", "log_dropped_http", "--framing http --log: events dropped (log_dropped)", None),
    ("fl-resp", "set_rps", "--framing resp, no log: redis SET (req/s)", None),
    ("fl-resp", "get_rps", "--framing resp, no log: redis GET (req/s)", None),
    ("fl-resp", "cpu_redis", "--framing resp, no log: CPU per redis request (us)", None),
    ("fl-resp-log", "set_rps", "--framing resp --log: redis SET (req/s)", ("cost", 0.15)),
    ("fl-resp-log", "get_rps", "--framing resp --log: redis GET (req/s)", ("cost", 0.15)),
    ("fl-resp-log", "get_p99", "--framing resp --log: redis GET p99 (ms)", None),
    ("fl-resp-log", "cpu_redis", "--framing resp --log: CPU per redis request (us)", None),
    ("fl-resp-log", "log_messages_redis", "--framing resp --log: message events logged", None),
    ("fl-resp-log", "log_dropped_redis", "--framing resp --log: events dropped (log_dropped)", None),
    ("fl-delay5", "iperf8", "5 ms delay: iperf3 8 streams (Gbit/s)", None),
    ("fl-delay5", "rss_iperf8", "5 ms delay: peak RSS, 8 streams (MiB, VmHWM)", ("below", 64.0)),
]

# Per-round values that are counts of what went wrong keep their worst (highest) value.
WORST_HIGH = ("rss_", "log_dropped_")

UDP_PATHS = ["direct", "socat", "nginx", "faultline"]


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


def kind_of(key, kinds):
    if key.startswith(WORST_HIGH):
        return "peak"
    return kinds.get(key, "higher")


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
    results = {key: best(values, kind_of(key[0], kinds)) for key, values in rounds.items()}
    # Log counts: the message count is the last round's (not a best), kept as it is.
    for key, values in rounds.items():
        if key[0].startswith("log_messages_") or key[0].startswith("log_events_"):
            measured = [v for v in values if v is not None]
            results[key] = measured[-1] if measured else None

    # A baseline (an older build, `BASELINE=`) gets its own ratio to haproxy, so the
    # two builds compare as the issue asks: each against haproxy in the same run.
    tcp_metrics = {key for key, _, _ in METRICS}
    paths = [p for p in PATHS if any(path == p and key in tcp_metrics for key, path in rounds)]
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

    print_table(columns, rows)
    print()
    print("fl/direct and fl/haproxy are faultline's figure divided by the other's: above 1 is")
    print("better for rates, below 1 for latencies, memory and CPU. Best of the rounds (peak")
    print("RSS: the highest). 'est.' is a linear extrapolation from the connections actually")
    print("held; socat's memory is the PSS summed over its processes (one per connection),")
    print("so it has no VmHWM.")

    variants(rounds, results)
    udp(rounds, results)


def print_table(columns, rows):
    widths = [max(len(str(r[i])) for r in rows + [columns]) for i in range(len(columns))]
    line = lambda cells: "  ".join(
        (c.ljust(w) if i in (0, len(columns) - 2, len(columns) - 1) else c.rjust(w))
        for i, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    print(line(columns))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def variants(rounds, results):
    """Issue 14's table: each variant against faultline passthrough in the same run."""
    rows = []
    for variant, key, label, target in VARIANT_ROWS:
        if (key, variant) not in rounds:
            continue
        base = results.get((key, "faultline"))
        value = results.get((key, variant))
        r = ratio(value, base)
        text, result = "", ""
        if target and target[0] == "cost":
            text = "cost <= %d%%" % round(target[1] * 100)
            result = "n/a" if r is None else ("PASS" if r >= 1 - target[1] else "FAIL")
        elif target and target[0] == "below":
            text = "< %g MiB" % target[1]
            result = "n/a" if value is None else ("PASS" if value < target[1] else "FAIL")
        base_cell = fmt(base) if (key, "faultline") in rounds else ""
        rows.append([label, base_cell, fmt(value), fmt_ratio(r), text, result])
    if not rows:
        return
    print()
    print("Issue 14: faults, framing and log, against faultline passthrough in the same run")
    print()
    print_table(["measurement", "passthrough", "variant", "variant/pass", "target", "result"], rows)
    print()
    print("passthrough is faultline with no profile and raw framing; variant/pass above 1 is")
    print("better for rates, below 1 for latencies, CPU and memory. A cost target of 10% is")
    print("variant/pass >= 0.90. Peak RSS is the highest of the rounds; log counts are per")
    print("run (the last round's message count, the highest dropped count).")


def udp(rounds, results):
    """bench/udp.sh's rows: delivered Mbit/s per offered rate, faultline against nginx."""
    rates = []
    for key, _ in rounds:
        if key.startswith("udp_") and not key.startswith("udp_loss_") and key[4:] not in rates:
            rates.append(key[4:])
    if not rates:
        return
    paths = [p for p in UDP_PATHS if any(("udp_" + r, p) in rounds for r in rates)]
    rows = []
    for rate in rates:
        key = "udp_" + rate
        cells = [fmt(results.get((key, p))) for p in paths]
        losses = [fmt(results.get(("udp_loss_" + rate, p))) for p in paths]
        r = ratio(results.get((key, "faultline")), results.get((key, "nginx")))
        result = "n/a" if r is None else ("PASS" if r >= 1.0 else "FAIL")
        rows.append(["offered %s: delivered (Mbit/s)" % rate] + cells + [fmt_ratio(r), ">= 1.0x nginx (#14)", result])
        rows.append(["offered %s: loss (%%)" % rate] + losses + ["", "", ""])
    print()
    print("UDP (bench/udp.sh): iperf3 -u, delivered rate as the receiver measured it")
    print()
    print_table(["measurement"] + paths + ["fl/nginx", "target", "result"], rows)


def fmt_ratio(value):
    return "-" if value is None else "%.2f" % value


if __name__ == "__main__":
    main(sys.argv[1])
