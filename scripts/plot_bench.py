#!/usr/bin/python3
"""Turns softkern_bench's JSON output into charts and a results table.

    build/bench/softkern_bench --benchmark_out=bench.json --benchmark_out_format=json
    scripts/plot_bench.py bench.json --out docs/bench [--title "CPU name"]

Writes, into --out:
  bandwidth_<isa>.png   effective bandwidth (8 bytes per element) against row
                        length for every algorithm on that target, with the
                        roofline twins (same passes, trivial arithmetic) as
                        dashed lines;
  speedup.png           the best softkern algorithm on the best target over
                        each peer (oneDNN, XNNPACK, PyTorch, xsimd), per size;
  attention.png         attention prefill's fraction of the FMA peak (and the
                        peers'), decode's fraction of the K/V twin;
and prints to stdout a Markdown results table per target (medians) and the
target figures (roofline, two-pass over reload, in-cache speed-up over each
peer, auto against the best explicit algorithm), each marked with whether it
was reached.

Only medians are used (the bench reports mean, median, stddev and cv over
--benchmark_repetitions; these machines are shared and noisy).
"""
import argparse
import collections
import json
import os
import re
import sys

ALGORITHMS = ["three_pass_recompute", "three_pass_reload", "two_pass", "online", "auto"]
TWINS = {"2R1W": "twin 2 reads + 1 write", "3R1W": "twin 3R + 1W", "3R2W": "twin 3R + 2W"}
ISA_ORDER = ["avx512", "avx2", "sve2", "sve", "neon", "scalar"]
PREFILL = re.compile(r"attention_prefill/(\w+)/causal/L=n=(\d+)/d=(\d+)/threads:(\d+)$")
PREFILL_PEER = re.compile(r"attention_prefill_peer/(\w+)/causal/L=n=(\d+)/d=(\d+)/threads:1$")
DECODE = re.compile(r"attention_decode/(\w+)/(\w+)/n=(\d+)/d=(\d+)/threads:(\d+)$")


def load(path):
    """Returns {run_name: benchmark dict} of the median aggregates."""
    with open(path) as f:
        data = json.load(f)
    medians = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"] if "run_name" in b else b["name"]
        name = name.replace("/real_time", "")
        if b.get("error_occurred"):
            continue
        # Without repetitions there are no aggregates: take the single run.
        if b.get("run_type") == "aggregate" or name not in medians:
            medians[name] = b
    return data.get("context", {}), medians


def seconds(b):
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
    return b["real_time"] * unit


def human(n):
    for suffix, scale in (("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {suffix}"
    return str(n)


def collect(medians):
    """softkern[isa][algorithm][size], twins[traffic][size], peers[peer][size] (seconds)."""
    softkern = collections.defaultdict(lambda: collections.defaultdict(dict))
    roofline = collections.defaultdict(lambda: collections.defaultdict(dict))
    twins = collections.defaultdict(dict)
    peers = collections.defaultdict(dict)
    for name, b in medians.items():
        parts = name.split("/")
        if parts[0] == "softmax" and len(parts) == 4 and parts[3].isdigit():
            softkern[parts[1]][parts[2]][int(parts[3])] = seconds(b)
            roofline[parts[1]][parts[2]][int(parts[3])] = b.get("roofline")
        elif parts[0] == "roofline_twin" and parts[2].isdigit():
            twins[parts[1]][int(parts[2])] = seconds(b)
        elif parts[0] == "peer" and parts[2].isdigit():
            peers[parts[1]][int(parts[2])] = seconds(b)
    return softkern, roofline, twins, peers


def collect_attention(medians):
    """prefill[(L, d, threads, isa)], peers[(L, d, peer)] (one thread),
    fma_twin[isa], decode[(kv type, n, threads, isa)]: benchmark dicts."""
    prefill, peers, twin, decode = {}, {}, {}, {}
    for name, b in medians.items():
        if m := PREFILL.match(name):
            prefill[(int(m[2]), int(m[3]), int(m[4]), m[1])] = b
        elif m := PREFILL_PEER.match(name):
            peers[(int(m[2]), int(m[3]), m[1])] = b
        elif m := DECODE.match(name):
            decode[(m[2], int(m[3]), int(m[5]), m[1])] = b
        elif name.startswith("fma_twin/"):
            twin[name.split("/")[1]] = b
    return prefill, peers, twin, decode


def gbps(n, s):
    return 8.0 * n / s / 1e9


def best_of(softkern, isa, size, explicit_only=True):
    algorithms = [a for a in ALGORITHMS if not (explicit_only and a == "auto")]
    times = [(softkern[isa][a][size], a) for a in algorithms if size in softkern[isa][a]]
    return min(times) if times else (None, None)


def plot(softkern, twins, peers, best_isa, out, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for isa in [i for i in ISA_ORDER if i in softkern]:
        fig, ax = plt.subplots(figsize=(8, 5))
        for a in ALGORITHMS:
            sizes = sorted(softkern[isa][a])
            if sizes:
                ax.plot(sizes, [gbps(n, softkern[isa][a][n]) for n in sizes], marker="o", label=a)
        for t, label in TWINS.items():
            sizes = sorted(twins.get(t, {}))
            if sizes:
                ax.plot(sizes, [gbps(n, twins[t][n]) for n in sizes], linestyle="--", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("row length (float32 elements)")
        ax.set_ylabel("effective bandwidth, GB/s (8 bytes per element)")
        ax.set_title(f"softkern softmax, {isa}, one thread\n{title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = os.path.join(out, f"bandwidth_{isa}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if peers:
        fig, ax = plt.subplots(figsize=(8, 5))
        for peer in sorted(peers):
            sizes = [n for n in sorted(peers[peer]) if best_of(softkern, best_isa, n)[0]]
            ax.plot(sizes, [peers[peer][n] / best_of(softkern, best_isa, n)[0] for n in sizes],
                    marker="o", label=f"over {peer}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("row length (float32 elements)")
        ax.set_ylabel("speed-up (peer time / softkern time)")
        ax.set_title(f"best softkern algorithm ({best_isa}) over each peer, one thread\n{title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = os.path.join(out, "speedup.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def plot_attention(medians, out, title):
    """attention.png: prefill's fraction of the FMA peak (each target, and
    each peer against the best target's peak) and decode's fraction of the
    K/V twin, as grouped bars. [] when the JSON holds no attention results."""
    prefill, peers, twin, decode = collect_attention(medians)
    if not prefill and not decode:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    isas = [i for i in ISA_ORDER if any(k[-1] == i for k in list(prefill) + list(decode))]
    peer_names = sorted({k[2] for k in peers})
    panels = ([3] if prefill else []) + ([2] if decode else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(2 + 2.5 * sum(panels), 5), squeeze=False,
                             gridspec_kw={"width_ratios": panels})
    axes = list(axes[0])

    def bars(ax, groups, series, ylabel, heading):
        width = 0.8 / max(1, len(series))
        for i, (label, values) in enumerate(series):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar(xs, [v if v is not None else 0 for v in values], width, label=label)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_ylim(0, max([1.3] + [1.15 * v for _, values in series for v in values if v is not None]))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(heading, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", ncol=3)

    if prefill:
        shapes = sorted({k[:3] for k in prefill}, key=lambda k: (k[0], -k[1], k[2]))
        groups = [f"L={L}\nd={d}\n{t} thread{'s' if t > 1 else ''}" for L, d, t in shapes]
        series = [(i, [prefill.get((L, d, t, i), {}).get("fma_fraction") for L, d, t in shapes]) for i in isas]
        best = next((i for i in isas if i in twin and twin[i].get("GFLOP/s")), None)
        for p in peer_names:
            if best:
                series.append((f"{p} (vs {best} peak)",
                               [peers[(L, d, p)].get("GFLOP/s") / twin[best]["GFLOP/s"]
                                if t == 1 and (L, d, p) in peers else None for L, d, t in shapes]))
        bars(axes.pop(0), groups, series, "fraction of the FMA peak (fma_twin x threads)", "causal prefill, float32")
    if decode:
        configs = sorted({k[:3] for k in decode}, key=lambda k: (k[0] != "f32", k[1], k[2]))
        groups = [f"{kv}, {human(n)} keys\n{t} thread{'s' if t > 1 else ''}" for kv, n, t in configs]
        series = [(i, [decode.get((kv, n, t, i), {}).get("roofline") for kv, n, t in configs]) for i in isas]
        bars(axes.pop(0), groups, series, "fraction of the K/V twin (K and V read once)", "decode, d = 128")
    fig.suptitle(f"softkern attention, one head\n{title}", fontsize=11)
    fig.tight_layout()
    path = os.path.join(out, "attention.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def table(softkern, roofline, twins, peers, isa):
    sizes = sorted({n for a in softkern[isa] for n in softkern[isa][a]})
    lines = []
    head = ["size"] + [f"{a}" for a in ALGORITHMS] + ["twin 2R1W"] + sorted(peers)
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for n in sizes:
        row = [human(n)]
        for a in ALGORITHMS:
            t = softkern[isa][a].get(n)
            r = roofline[isa][a].get(n)
            row.append(f"{t * 1e6:.1f} us ({r:.2f})" if t and r else (f"{t * 1e6:.1f} us" if t else "-"))
        t = twins.get("2R1W", {}).get(n)
        row.append(f"{t * 1e6:.1f} us" if t else "-")
        for p in sorted(peers):
            t = peers[p].get(n)
            row.append(f"{t * 1e6:.1f} us" if t else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def figures(softkern, roofline, peers, best_isa):
    """The target figures, measured, each with ok/MISSED."""
    out = []

    def check(label, value, ok, fmt="{:.2f}"):
        out.append(f"- {label}: {fmt.format(value) if value is not None else 'n/a'} "
                   f"{'ok' if ok else 'MISSED'}")

    for n in (16 << 20, 64 << 20):
        r = roofline[best_isa]["two_pass"].get(n)
        check(f"{best_isa} two_pass roofline at {human(n)} (>= 0.90)", r, r is not None and r >= 0.90)
        tp, rl = softkern[best_isa]["two_pass"].get(n), softkern[best_isa]["three_pass_reload"].get(n)
        ratio = rl / tp if tp and rl else None
        check(f"{best_isa} two_pass over three_pass_reload at {human(n)} (>= 1.25x)", ratio,
              ratio is not None and ratio >= 1.25, "{:.2f}x")
    for n in sorted(n for n in softkern[best_isa]["two_pass"] if (4 << 10) <= n <= (256 << 10)):
        best, alg = best_of(softkern, best_isa, n)
        for p, need in (("onednn", 3.0), ("pytorch", 3.0), ("xnnpack", 1.0), ("xsimd_three_pass", 1.0)):
            if n in peers.get(p, {}):
                s = peers[p][n] / best
                check(f"in cache {human(n)}: best ({alg}) over {p} (>= {need:g}x{'' if need > 1 else ', i.e. faster'})",
                      s, s >= need if need > 1 else s > 1.0, "{:.2f}x")
    for isa in softkern:
        worst = None
        for n in sorted(softkern[isa]["auto"]):
            best, _ = best_of(softkern, isa, n)
            slow = softkern[isa]["auto"][n] / best
            if worst is None or slow > worst[0]:
                worst = (slow, n)
        if worst:
            check(f"{isa} auto vs best explicit, worst size {human(worst[1])} (<= 1.05)", worst[0],
                  worst[0] <= 1.05, "{:.3f}")
    r = roofline.get("avx2", {}).get("two_pass", {}).get(64 << 20)
    check("avx2 two_pass roofline at 64 Mi (>= 0.85)", r, r is not None and r >= 0.85)
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="softkern_bench --benchmark_out=... --benchmark_out_format=json")
    parser.add_argument("--out", default=".", help="directory for the PNG charts")
    parser.add_argument("--title", default=None, help="chart subtitle (default: the CPU from the JSON)")
    parser.add_argument("--no-plots", action="store_true", help="only print the table and figures")
    args = parser.parse_args()

    context, medians = load(args.json)
    softkern, roofline, twins, peers = collect(medians)
    if not softkern:
        sys.exit(f"{args.json}: no softkern results in this file")
    best_isa = next(i for i in ISA_ORDER if i in softkern)
    title = args.title or f"{context.get('num_cpus', '?')} CPUs, {context.get('mhz_per_cpu', '?')} MHz"

    if not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        for path in plot(softkern, twins, peers, best_isa, args.out, title) + plot_attention(medians, args.out, title):
            print(f"wrote {path}", file=sys.stderr)
    for isa in (i for i in ISA_ORDER if i in softkern):
        print(f"Single row, {isa}, median time (roofline = twin time / kernel time):\n")
        print(table(softkern, roofline, twins, peers, isa) + "\n")
    print("Figures:\n")
    print(figures(softkern, roofline, peers, best_isa))


if __name__ == "__main__":
    main()
