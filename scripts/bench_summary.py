#!/usr/bin/python3
"""What a softkern_bench run comes down to: summary.md and the charts.

    scripts/bench_summary.py results/<machine>/bench.json [--out DIR]
                             [--binary build/bench/softkern_bench] [--model zen4]

softkern_bench runs this at the end of every run (bench/summary.cpp); run it
by hand to redo the summary of any bench JSON (docs/bench/*.json too).
Writes into --out (default: the JSON's folder) and prints:
  summary.md  per target and softmax size, the fastest softkern algorithm,
              its effective bandwidth (8 bytes per element), its fraction of
              the memory roofline (the twin of that algorithm), of the
              compute bound (scripts/instruction_bound.py), and its speed-up
              over each peer; attention prefill against the FMA peak and the
              peers, decode against the K/V twin;
  *.png       the charts of scripts/plot_bench.py (bandwidth per target,
              speed-up over the peers, attention), if matplotlib is there.
All figures are medians of the bench's repetitions.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import instruction_bound
import plot_bench

PEER_LABELS = {"xsimd_three_pass": "xsimd", "xsimd_three_pass_avx2": "xsimd avx2", "onednn": "oneDNN",
               "xnnpack": "XNNPACK", "pytorch": "PyTorch"}
# The port model of scripts/instruction_bound.py for each microarchitecture
# the bench names (bench/machine.cpp). Those without a model of their own
# take the one with the same pipes for 256-bit operations; the summary says
# which model it used.
BOUND_MODELS = {"zen3": "zen3", "zen4": "zen4", "zen5": "zen5", "icelake": "icelake", "cortex-a72": "cortex-a72",
                "neoverse-n1": "neoverse-n1", "neoverse-v1": "neoverse-v1"}
NEAREST_MODELS = {"zen2": "zen3", "skylake-x": "icelake", "sapphirerapids": "icelake", "emeraldrapids": "icelake",
                  "graniterapids": "icelake"}


def cpu_seconds(b):
    return b["cpu_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]


def fmt(value, pattern="{:.2f}"):
    return pattern.format(value) if value is not None else "-"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


class ComputeBound:
    """The instruction-count bound of each algorithm on this machine:
    instruction_bound.py's cycles per element on the port model of this
    microarchitecture, turned into time with the clock that the bench's
    cpu_clock benchmark measured."""

    def __init__(self, binary, model, benchmarks):
        self.bounds, self.model, self.note = {}, model, None
        self.ghz = instruction_bound.clock_ghz(benchmarks)
        if not model:
            self.note = "no port model for this CPU in scripts/instruction_bound.py (--model picks one)"
        elif self.ghz is None:
            self.note = "no cpu_clock result in the JSON (it measures the clock the bound needs)"
        elif not binary or not os.path.exists(binary):
            self.note = f"the bench binary ({binary or 'none given'}) is not there to disassemble (--binary)"
        else:
            try:
                self.bounds = instruction_bound.bounds_of(binary)
            except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as e:
                self.note = f"objdump of {binary} failed ({e})"

    def fraction(self, isa, algorithm, b, n):
        """Bound / measured CPU time of benchmark b (n elements), or None."""
        cycles = self.bounds.get((isa, "f32", algorithm, self.model))
        if cycles is None or not b:
            return None
        return cycles / self.ghz * 1e-9 * n / cpu_seconds(b)


def softmax_section(softkern, roofline, peers, medians, bound):
    out = ["## Softmax, one row, one thread", ""]
    peer_names = [p for p in PEER_LABELS if p in peers] + sorted(p for p in peers if p not in PEER_LABELS)
    out.append("Per target and row length: the fastest softkern algorithm; GB/s counts 8 bytes per element "
               "(x read once, y written once); *memory* = its roofline twin's time / its time (the twin "
               "moves the same bytes in the same passes: 2R1W, 3R1W or 3R2W); *compute* = the "
               "instruction-count bound / its CPU time; a peer's column = the peer's time / softkern's "
               "(above 1: softkern is faster).")
    if bound.bounds:
        out.append(f"Compute bound: the {bound.model} port model of scripts/instruction_bound.py, "
                   f"clock {bound.ghz:.2f} GHz (cpu_clock){'; ' + bound.note if bound.note else ''}.")
    else:
        out.append(f"Compute bound: not computed: {bound.note}.")
    out.append("")
    for isa in [i for i in plot_bench.ISA_ORDER if i in softkern]:
        rows = []
        for n in sorted({n for a in softkern[isa] for n in softkern[isa][a]}):
            t, alg = plot_bench.best_of(softkern, isa, n)
            if t is None:
                continue
            b = medians.get(f"softmax/{isa}/{alg}/{n}")
            row = [plot_bench.human(n), alg, f"{plot_bench.gbps(n, t):.1f}", fmt(roofline[isa][alg].get(n)),
                   fmt(bound.fraction(isa, alg, b, n))]
            row += [fmt(peers[p][n] / t, "{:.2f}x") if n in peers[p] else "-" for p in peer_names]
            rows.append(row)
        head = ["size", "best", "GB/s", "memory", "compute"] + [PEER_LABELS.get(p, p) for p in peer_names]
        out += [f"### {isa}", "", table(head, rows), ""]
    return out


def attention_section(medians, best_isa):
    prefill, peer, twin, decode = plot_bench.collect_attention(medians)
    if not prefill and not decode:
        return [], []
    isas = [i for i in plot_bench.ISA_ORDER if any(k[-1] == i for k in list(prefill) + list(decode))]
    best = best_isa if best_isa in isas else isas[0]
    peers = [p for p in PEER_LABELS if any(k[2] == p for k in peer)] + sorted(
        {k[2] for k in peer} - set(PEER_LABELS))
    out, headline = ["## Attention, one head", ""], []

    if prefill:
        out.append(f"Causal prefill, float32: the fraction of the FMA peak (fma_twin: one core's flops on "
                   f"that target, times the threads) per target; GFLOP/s of {best} over 4d flops per "
                   f"visible (query, key) pair; a peer's column = its time / softkern's on {best}, one "
                   f"thread (above 1: softkern is faster).")
        out.append("")
        rows = []
        for L, d, threads in sorted({k[:3] for k in prefill}, key=lambda k: (k[0], -k[1], k[2])):
            mine = prefill.get((L, d, threads, best))
            row = [f"L = n = {L}, d = {d}", str(threads)]
            row += [fmt(prefill.get((L, d, threads, i), {}).get("fma_fraction")) for i in isas]
            row.append(fmt(mine.get("GFLOP/s") if mine else None, "{:.1f}"))
            for p in peers:
                theirs = peer.get((L, d, p))
                ratio = plot_bench.seconds(theirs) / plot_bench.seconds(mine) if theirs and mine and threads == 1 \
                    else None
                row.append(fmt(ratio, "{:.2f}x"))
            rows.append(row)
            if threads == 1 and mine and not headline:
                said = [f"{plot_bench.seconds(peer[(L, d, p)]) / plot_bench.seconds(mine):.2f}x {PEER_LABELS.get(p, p)}"
                        for p in peers if (L, d, p) in peer]
                headline.append(f"- attention prefill ({best}, causal L = n = {L}, d = {d}, one thread): "
                                f"{fmt(mine.get('fma_fraction'))} of the FMA peak"
                                + (", " + ", ".join(said) if said else ""))
        head = ["shape", "threads"] + [f"{i} of FMA peak" for i in isas] + [f"GFLOP/s ({best})"] + [
            PEER_LABELS.get(p, p) for p in peers]
        out += [table(head, rows), ""]
        if twin:
            out.append("FMA peak, one thread: " + ", ".join(
                f"{i} {twin[i].get('GFLOP/s', 0):.1f} GFLOP/s" for i in isas if i in twin) + ".")
            out.append("")

    if decode:
        out.append(f"Decode, one query over n keys, d = 128: the fraction of the K/V twin (K and V read once, "
                   f"on the same threads) per target; GB/s of {best} counts K and V once.")
        out.append("")
        rows = []
        for kv, n, threads in sorted({k[:3] for k in decode}, key=lambda k: (k[0] != "f32", k[1], k[2])):
            mine = decode.get((kv, n, threads, best))
            row = [kv, plot_bench.human(n), str(threads)]
            row += [fmt(decode.get((kv, n, threads, i), {}).get("roofline")) for i in isas]
            row.append(fmt(mine["bytes_per_second"] / 1e9 if mine and "bytes_per_second" in mine else None, "{:.1f}"))
            rows.append(row)
            if threads == 1 and mine:
                headline.append(f"- attention decode ({best}, {kv} K/V, {plot_bench.human(n)} keys, one thread): "
                                f"{fmt(mine.get('roofline'))} of the K/V twin")
        head = ["K/V", "keys", "threads"] + [f"{i} of K/V twin" for i in isas] + [f"GB/s ({best})"]
        out += [table(head, rows), ""]
    return out, headline


def softmax_headline(softkern, roofline, peers, best_isa):
    """The best target at the largest row length measured (out of the caches
    in a full run), and the speed-up over each peer at 16 Ki (in cache)."""
    lines = []
    sizes = sorted({n for a in softkern[best_isa] for n in softkern[best_isa][a]})
    if not sizes:
        return lines
    large = sizes[-1]
    small = 16 << 10 if (16 << 10) in sizes else sizes[0]
    for n in sorted({small, large}):
        t, alg = plot_bench.best_of(softkern, best_isa, n)
        if not t:
            continue
        said = [f"{fmt(roofline[best_isa][alg].get(n))} of its memory roofline"] if n == large else []
        said += [f"{peers[p][n] / t:.2f}x {PEER_LABELS.get(p, p)}" for p in PEER_LABELS if n in peers.get(p, {})]
        lines.append(f"- softmax ({best_isa}, {plot_bench.human(n)} elements): " +
                     ", ".join([alg, f"{plot_bench.gbps(n, t):.1f} GB/s"] + said))
    return lines


def write_charts(softkern, twins, peers, medians, best_isa, out, title):
    """The charts of plot_bench.py, replacing those of an earlier run in out."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"bench_summary.py: no charts: matplotlib is not installed for {sys.executable} "
              "(Debian: python3-matplotlib, which scripts/setup.sh installs)", file=sys.stderr)
        return []
    for old in glob.glob(os.path.join(out, "bandwidth_*.png")) + [os.path.join(out, f)
                                                                  for f in ("speedup.png", "attention.png")]:
        if os.path.exists(old):
            os.remove(old)
    written = plot_bench.plot(softkern, twins, peers, best_isa, out, title) if softkern else []
    written += plot_bench.plot_attention(medians, out, title)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="softkern_bench's JSON output")
    parser.add_argument("--out", help="folder for summary.md and the charts (default: the JSON's)")
    parser.add_argument("--binary", help="the bench binary, for the compute bound (default: the JSON's executable)")
    parser.add_argument("--model", choices=sorted(instruction_bound.MACHINES),
                        help="port model for the compute bound (default: from the CPU in the JSON)")
    args = parser.parse_args()
    out_dir = args.out or os.path.dirname(os.path.abspath(args.json))
    os.makedirs(out_dir, exist_ok=True)

    context, medians = plot_bench.load(args.json)
    with open(args.json) as f:
        benchmarks = json.load(f)["benchmarks"]
    softkern, roofline, twins, peers = plot_bench.collect(medians)
    isas = [i for i in plot_bench.ISA_ORDER if i in softkern or any(k.startswith(f"attention_prefill/{i}/")
                                                                   or k.startswith(f"attention_decode/{i}/")
                                                                   for k in medians)]
    best_isa = isas[0] if isas else None

    uarch = context.get("cpu_microarchitecture", "unknown")
    model = args.model or BOUND_MODELS.get(uarch) or NEAREST_MODELS.get(uarch)
    bound = ComputeBound(args.binary or context.get("executable"), model, benchmarks)
    if bound.bounds and not args.model and uarch not in BOUND_MODELS and model:
        bound.note = (f"{uarch} has no model of its own; {model} has the same pipes for 256-bit operations "
                      "(a fraction above 1 means the core issues more than that model allows)")

    stem = os.path.splitext(os.path.basename(args.json))[0]
    machine = context.get("machine") or (stem if stem != "bench" else os.path.basename(out_dir))
    cpu = context.get("cpu_model", "")
    title = f"{machine} ({cpu})" if cpu else machine
    repetitions = max((b.get("repetitions", 1) for b in benchmarks), default=1)
    lines = [f"# softkern bench on {machine}", ""]
    lines.append(f"{cpu or 'CPU not recorded'}"
                 f"{', ' + uarch if uarch != 'unknown' else ''}, {context.get('num_cpus', '?')} CPUs; "
                 f"targets {context.get('softkern_targets', ' '.join(isas))}; run {context.get('date', '?')}; "
                 f"medians of {repetitions} repetition{'s' if repetitions > 1 else ''}.")
    lines.append("")
    if not isas:
        lines.append("No softkern softmax or attention results in this run (see --benchmark_filter).")
    attention, attention_headline = attention_section(medians, best_isa)
    headline = (softmax_headline(softkern, roofline, peers, best_isa) if softkern else []) + attention_headline
    if headline:
        lines += headline + [""]
    if softkern:
        lines += softmax_section(softkern, roofline, peers, medians, bound)
    lines += attention

    summary = os.path.join(out_dir, "summary.md")
    with open(summary, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print("\n" + "\n".join(lines).rstrip())
    charts = write_charts(softkern, twins, peers, medians, best_isa, out_dir, title)
    print(f"\nwrote {summary} and {len(charts)} chart{'s' if len(charts) != 1 else ''}"
          f"{' (' + ', '.join(os.path.basename(c) for c in charts) + ')' if charts else ''}; the results: {args.json}")


if __name__ == "__main__":
    main()
