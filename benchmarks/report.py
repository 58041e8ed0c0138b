#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""Turns a benchmark run (benchmarks/run.sh) into markdown tables.

    report.py RESULTS_DIR

Reads RESULTS_DIR/results.txt (one line per cell: round=.. scenario=..
server=.. key=value ...), RESULTS_DIR/meta.txt and RESULTS_DIR/codec.json,
and prints medians over the rounds, the CPU use of both processes next to
every figure, the ratios of wsx to each peer, and the issue's targets.
"""
import json
import os
import statistics
import sys

SERVERS = [("wsx", "wsx"), ("uws", "uWebSockets"), ("beast", "Boost.Beast"), ("wspp", "websocketpp"), ("raw", "raw TCP"), ("wsx_uring", "wsx (io_uring)")]

# scenario, metric, label, unit, higher is better[, scenario the peers are read from]
ROWS = [
    ("echo_20_1", "rate", "echo 20 B text, 1 in flight", "msg/s", True),
    ("echo_20_32", "rate", "echo 20 B text, 32 in flight", "msg/s", True),
    ("echo_16k_1", "rate", "echo 16 KiB binary, 1 in flight", "msg/s", True),
    ("echo_16k_32", "rate", "echo 16 KiB binary, 32 in flight", "msg/s", True),
    ("echo_1m", "rate", "echo 1 MiB binary, 1 in flight", "msg/s", True),
    ("bcast_small", "rate", "broadcast 100 B to {bcast_small} clients", "deliveries/s", True),
    ("bcast_small", "last_ms_p50", "  time to last delivery, one broadcast", "ms", False),
    ("bcast_big", "rate", "broadcast 100 B to {big} clients", "deliveries/s", True),
    ("bcast_big", "last_ms_p50", "  time to last delivery, one broadcast", "ms", False),
    ("bcast_small_list", "rate", "broadcast to {bcast_small}, wsx: own list + connection::send(prepared_message)",
     "deliveries/s", True, "bcast_small"),
    ("bcast_small_list", "last_ms_p50", "  time to last delivery, one broadcast", "ms", False, "bcast_small"),
    ("bcast_big_list", "rate", "broadcast to {big}, wsx: own list + connection::send(prepared_message)",
     "deliveries/s", True, "bcast_big"),
    ("bcast_big_list", "last_ms_p50", "  time to last delivery, one broadcast", "ms", False, "bcast_big"),
    ("churn", "rate", "connection churn (handshake + close)", "conn/s", True),
    ("latency", "p50_us", "latency p50 at {rate} msg/s", "µs", False),
    ("latency", "p99_us", "latency p99", "µs", False),
    ("latency", "p999_us", "latency p99.9", "µs", False),
    ("latency", "max_send_late_us", "  (load generator's own worst send delay)", "µs", False),
    ("idle", "bytes_per_conn", "RSS per idle connection ({big} open)", "B", False),
    ("cross_thread", "rate", "wsx only: 64 B sends from another thread to {conns} clients", "deliveries/s", True),
    ("cross_thread", "srv_us_per_msg", "  server CPU per delivered message", "µs", False),
    ("tls_20_1", "rate", "wss:// echo 20 B text, 1 in flight", "msg/s", True),
    ("tls_16k_1", "rate", "wss:// echo 16 KiB binary, 1 in flight", "msg/s", True),
    ("tls_256k_1", "rate", "wss:// echo 256 KiB binary, 1 in flight", "msg/s", True),
    ("tls_idle", "bytes_per_conn", "RSS per idle wss:// connection", "B", False),
]


def parse_line(line):
    fields, fail = {}, None
    parts = line.split()
    for i, p in enumerate(parts):
        if p == "FAIL":
            fail = " ".join(parts[i + 1:])
            break
        if "=" in p:
            k, v = p.split("=", 1)
            fields[k] = v
    return fields, fail


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, unit=""):
    if v is None:
        return "—"
    if unit in ("ms", "µs"):
        return f"{v:,.2f}" if v < 10 else f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"
    return f"{v:,.0f}"


def main():
    d = sys.argv[1]
    meta = {}
    if os.path.exists(os.path.join(d, "meta.txt")):
        for line in open(os.path.join(d, "meta.txt")):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                meta[k] = v.strip('"')
    settings = dict(kv.split("=", 1) for kv in meta.get("settings", "").split() if "=" in kv)

    cells = {}   # (scenario, server) -> list of field dicts
    fails = {}   # (scenario, server) -> [reason]
    for line in open(os.path.join(d, "results.txt")):
        if not line.strip():
            continue
        f, fail = parse_line(line)
        key = (f.get("scenario"), f.get("server"))
        if fail:
            fails.setdefault(key, []).append(fail)
        else:
            cells.setdefault(key, []).append(f)

    def median(scenario, server, metric):
        vals = [fnum(c.get(metric)) for c in cells.get((scenario, server), [])]
        vals = [v for v in vals if v is not None and v >= 0]
        return statistics.median(vals) if vals else None

    present = [(s, name) for s, name in SERVERS if any(k[1] == s for k in list(cells) + list(fails))]
    peers = [(s, n) for s, n in present if s != "wsx"]
    rounds = max((len(v) for v in cells.values()), default=0)

    print(f"### Results ({settings.get('rounds', rounds)} interleaved round(s), medians)")
    print()
    if meta.get("machine"):
        print(f"Machine: {meta['machine']}. Settings: {meta.get('settings', '')}.")
        print()
    print("Each cell: median value, then (server CPU % / load generator CPU %) over the measured")
    print("window, in percent of one core: the side near 100 % was the bottleneck. Ratios are")
    print("wsx ÷ peer; for rows marked ↓ lower is better, so there a ratio below 1 favours wsx.")
    print()
    head = ["scenario", "unit"] + [n for _, n in present] + [f"wsx/{n}" for _, n in peers]
    # No header for a table without rows (a run of only the HTTP/2 rows below).
    if any(k[0] == r[0] for r in ROWS for k in list(cells) + list(fails)):
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    fmt_settings = {k: f"{int(v):,}" if v.isdigit() else v for k, v in settings.items()}
    for scenario, metric, label, unit, higher, *peer_scenario in ROWS:
        if not any(k[0] == scenario for k in list(cells) + list(fails)):
            continue
        label = label.format(**fmt_settings)
        row = [label, unit + (" ↑" if higher else " ↓")]
        wsx_v = median(scenario, "wsx", metric)
        for s, _ in present:
            sc_name = peer_scenario[0] if peer_scenario and s != "wsx" else scenario
            v = median(sc_name, s, metric)
            if v is None:
                row.append("FAIL" if (scenario, s) in fails else "—")
                continue
            text = fmt(v, unit)
            sc, lc = median(sc_name, s, "srv_cpu"), median(sc_name, s, "lg_cpu")
            if sc is not None and lc is not None and metric in ("rate", "p50_us"):
                text += f" ({sc:.0f}/{lc:.0f}%)"
            if (sc_name, s) in fails:
                text += f" ({len(fails[(sc_name, s)])} failed)"
            if peer_scenario and s != "wsx":
                text = f"({text})"
            row.append(text)
        for s, _ in peers:
            v = median(peer_scenario[0] if peer_scenario else scenario, s, metric)
            row.append(f"{wsx_v / v:.2f}×" if wsx_v is not None and v else "—")
        print("| " + " | ".join(row) + " |")
    print()
    print("Rows marked \"wsx: own list\" run only on wsx; the peers' figures in parentheses repeat")
    print("their broadcast row above, for the ratio. The \"wsx only\" row has no peer: a producer")
    print("thread in the server process calls connection::send_binary on each client in turn.")
    print()

    # ---- server CPU per message: robust to a busy machine -------------------------
    def cost(scenario, server):
        vals = []
        for c in cells.get((scenario, server), []):
            r, sc = fnum(c.get("rate")), fnum(c.get("srv_cpu"))
            if r and sc is not None and sc > 0:
                vals.append(sc / 100.0 / r * 1e6)
        return statistics.median(vals) if vals else None

    cost_rows = [r for r in ROWS if r[1] == "rate"]
    if any(cost(r[0], "wsx") is not None for r in cost_rows):
        print("### Server CPU time per message (µs, median over rounds; lower is better)")
        print()
        print("CPU time the server process used in the window divided by the messages (or")
        print("deliveries, or connections) it handled. Unlike the rate, it does not fall when other")
        print("work on the machine takes the server's core away, so it is the steadier comparison")
        print("on a shared machine; it includes the kernel's share (system calls, loopback TCP).")
        print()
        head = ["scenario"] + [n for _, n in present] + [f"wsx/{n}" for _, n in peers]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for scenario, metric, label, unit, higher, *peer_scenario in cost_rows:
            if not any(k[0] == scenario for k in cells):
                continue
            row = [label.format(**fmt_settings)]
            w = cost(scenario, "wsx")
            for s, _ in present:
                v = cost(peer_scenario[0] if peer_scenario and s != "wsx" else scenario, s)
                row.append("—" if v is None else f"{v:.2f}")
            for s, _ in peers:
                v = cost(peer_scenario[0] if peer_scenario else scenario, s)
                row.append(f"{w / v:.2f}×" if w is not None and v else "—")
            print("| " + " | ".join(row) + " |")
        print()

    # ---- WebSockets over HTTP/2 (issue #17) -------------------------------------------
    h2_rows = [("h2_h1_100", "HTTP/1.1, {conns} connections"),
               ("h2_streams_100", "HTTP/2 (h2c), 1 connection × {conns} WebSocket streams"),
               ("h2_conns_100", "HTTP/2 (h2c), {conns} connections × 1 stream")]
    if any(k[0] == sc for sc, _ in h2_rows for k in list(cells) + list(fails)):
        print("### WebSockets over HTTP/2 (RFC 8441) beside HTTP/1.1, wsx only")
        print()
        print("20 B text echo, 1 in flight per WebSocket, one server (wsx_bench_server --mode echo-h2)")
        print("serving both protocols; the HTTP/2 load generator is nghttp2's client session")
        print("(wsx_h2_loadgen). Server CPU per message as in the table above; the ratio is to the")
        print("HTTP/1.1 row (below 1: HTTP/2 costs the server less per message).")
        print()
        print("| transport | msg/s ↑ | server µs/msg ↓ | ÷ HTTP/1.1 (µs/msg) |")
        print("|---|---:|---:|---:|")
        base = cost("h2_h1_100", "wsx")
        for sc, label in h2_rows:
            r, c = median(sc, "wsx", "rate"), cost(sc, "wsx")
            if r is None:
                print(f"| {label.format(**fmt_settings)} | {'FAIL' if (sc, 'wsx') in fails else '—'} | — | — |")
                continue
            sc_cpu, lg_cpu = median(sc, "wsx", "srv_cpu"), median(sc, "wsx", "lg_cpu")
            rate = fmt(r) + (f" ({sc_cpu:.0f}/{lg_cpu:.0f}%)" if sc_cpu is not None and lg_cpu is not None else "")
            print(f"| {label.format(**fmt_settings)} | {rate} | {'—' if c is None else f'{c:.2f}'} | "
                  f"{f'{c / base:.2f}×' if c is not None and base else '—'} |")
        print()

    # ---- targets of issue #6 ---------------------------------------------------
    def ratio(scenario, peer, metric="rate"):
        a, b = median(scenario, "wsx", metric), median(scenario, peer, metric)
        return a / b if a is not None and b else None

    targets = [
        ("echo 20 B, 1 in flight ≥ 1.5× Beast", ratio("echo_20_1", "beast"), 1.5, True),
        ("echo 20 B, 32 in flight ≥ 20× Beast", ratio("echo_20_32", "beast"), 20, True),
        ("echo 20 B, 32 in flight ≥ 5× websocketpp", ratio("echo_20_32", "wspp"), 5, True),
        ("echo 16 KiB, 1 in flight ≥ 1.9× Beast", ratio("echo_16k_1", "beast"), 1.9, True),
        ("echo 16 KiB, 1 in flight ≥ 0.9× raw TCP", ratio("echo_16k_1", "raw"), 0.9, True),
        ("RSS per idle connection ≤ 1,024 B", median("idle", "wsx", "bytes_per_conn"), 1024, False),
    ]
    e = median("echo_20_32", "wsx", "rate")
    for sc_name, how in (("bcast_big", "registry::broadcast"), ("bcast_big_list", "own list + connection::send")):
        b = median(sc_name, "wsx", "rate")
        targets.append((f"broadcast to {fmt_settings.get('big', 'the big set')} ({how}) ≥ 0.8× wsx's 20 B "
                        "32-in-flight echo rate", b / e if b is not None and e else None, 0.8, True))

    def print_targets(title, targets):
        if not any(t[1] is not None for t in targets):
            return
        print(f"### Targets ({title})")
        print()
        print("| target | measured | met |")
        print("|---|---:|:---:|")
        for name, v, goal, higher in targets:
            if v is None:
                print(f"| {name} | — | — |")
                continue
            ok = v >= goal if higher else v <= goal
            shown = f"{v:,.0f} B" if name.startswith("RSS") else f"{v:.2f}×"
            print(f"| {name} | {shown} | {'yes' if ok else '**no**'} |")
        print()

    print_targets("issue #6", targets)

    # Issue #15: ahead of uWebSockets on every row, in the same run.
    def cost_ratio(scenario, peer):
        a, b = cost(scenario, "wsx"), cost(scenario, peer)
        return a / b if a is not None and b else None

    echo_rows = [("echo_20_1", "20 B, 1 in flight"), ("echo_20_32", "20 B, 32 in flight"),
                 ("echo_16k_1", "16 KiB, 1 in flight"), ("echo_16k_32", "16 KiB, 32 in flight")]
    t15 = [(f"echo {label} ≥ 1.0× uWS", ratio(sc, "uws"), 1.0, True) for sc, label in echo_rows]
    t15 += [
        (f"broadcast to {fmt_settings.get('big', 'the big set')} (registry::broadcast) ≥ 1.0× uWS publish, deliveries/s",
         ratio("bcast_big", "uws"), 1.0, True),
        ("  time to the last delivery ≤ 1.0× uWS", ratio("bcast_big", "uws", "last_ms_p50"), 1.0, False),
        ("echo 1 MiB ≥ 0.6× raw TCP", ratio("echo_1m", "raw"), 0.6, True),
    ]
    t15 += [(f"wss:// echo {label} ≥ 1.0× uWS", ratio(sc, "uws"), 1.0, True)
            for sc, label in (("tls_20_1", "20 B"), ("tls_16k_1", "16 KiB"), ("tls_256k_1", "256 KiB"))]
    t15 += [
        ("RSS per idle connection ≤ 512 B", median("idle", "wsx", "bytes_per_conn"), 512, False),
        ("RSS per idle wss:// connection ≤ 12,288 B", median("tls_idle", "wsx", "bytes_per_conn"), 12288, False),
    ]
    t15 += [(f"server CPU per message, echo {label} ≤ 1.0× uWS", cost_ratio(sc, "uws"), 1.0, False)
            for sc, label in echo_rows + [("tls_20_1", "wss:// 20 B"), ("tls_16k_1", "wss:// 16 KiB"),
                                          ("tls_256k_1", "wss:// 256 KiB")]]
    print_targets("issue #15, against uWebSockets", t15)

    # ---- callgrind ------------------------------------------------------------------
    cg = [(k, v) for k, v in cells.items() if k[0] and k[0].startswith("callgrind_")]
    if cg:
        print("### Instructions per echoed 20 B message (callgrind, user space only)")
        print()
        print("| server | 1 in flight | 32 in flight |")
        print("|---|---:|---:|")
        for s, name in SERVERS:
            one, many = median("callgrind_1", s, "ir_per_msg"), median("callgrind_32", s, "ir_per_msg")
            if one is None and many is None:
                continue
            print(f"| {name} | {fmt(one)} | {fmt(many)} |")
        print()

    # ---- codec micro-benchmarks -------------------------------------------------------
    codec = os.path.join(d, "codec.json")
    if os.path.exists(codec):
        data = json.load(open(codec))
        rows = []
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            if b.get("error_occurred"):
                rows.append((b.get("run_name", b["name"]), "error: " + b.get("error_message", ""), "", ""))
                continue
            name = b.get("run_name", b["name"])
            unit = b.get("time_unit", "ns")
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]
            t = b["real_time"] * scale
            gbs = f"{b['bytes_per_second'] / 1e9:.2f}" if "bytes_per_second" in b else ""
            items = f"{b['items_per_second'] / 1e6:.1f}" if "items_per_second" in b else ""
            rows.append((name + (f" ({b['label']})" if b.get("label") else ""), f"{t:,.1f}", gbs, items))
        print("### Codec micro-benchmarks (Google Benchmark, medians)")
        print()
        print("| benchmark | ns per iteration | GB/s | M items/s |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()

    if fails:
        print("### Failures")
        print()
        for (scenario, server), reasons in sorted(fails.items(), key=lambda kv: str(kv[0])):
            print(f"- {scenario} on {server}: {'; '.join(reasons)}")
        print()


if __name__ == "__main__":
    main()
