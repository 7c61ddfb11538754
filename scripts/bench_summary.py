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
              peers, decode against the K/V twin; serving (batched, paged,
              mixed and grouped-query decode) against the K/V twin and the
              loops a caller writes; sampling against the sort reference,
              PyTorch and softmax; training (softmax backward,
              cross-entropy) against the twin and PyTorch, with the peak
              extra memory; each section only when its rows ran;
  *.png       the charts of scripts/plot_bench.py (bandwidth per target,
              speed-up over the peers, attention), if matplotlib is there.
All figures are medians of the bench's repetitions; the training table adds
the ratios of the fastest ones (the "min" aggregates) when the JSON has them.
"""
import argparse
import collections
import glob
import json
import os
import re
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


# Names of the serving, sampling and training rows (bench/serving_bench.cpp,
# sampling_bench.cpp, training_bench.cpp). Every group but "isa" keys a row.
SERVING_DECODE = re.compile(r"serving_decode/(?P<isa>\w+)/(?P<kv>\w+)/(?P<layout>paged|dense)/B=(?P<batch>\d+)/"
                            r".*threads:(?P<threads>\d+)$")
SERVING_MIXED = re.compile(r"serving_mixed/(?P<isa>\w+)/(?P<kv>\w+)/prefill=(?P<prefill>\d+)\+decode=(?P<decode>\d+)/"
                           r".*threads:(?P<threads>\d+)$")
SERVING_GQA = re.compile(r"serving_gqa_decode/(?P<isa>\w+)/(?P<kv>\w+)/n=(?P<n>\d+)/.*threads:(?P<threads>\d+)$")
SAMPLE = re.compile(r"sample/(?P<isa>\w+)/(?P<type>\w+)/(?P<filter>[\w.]+)/n=(?P<n>\d+)/threads:(?P<threads>\d+)$")
TRAINING = re.compile(r"(?P<kind>softmax_backward|log_softmax_backward|cross_entropy)/(?P<isa>\w+)/"
                      r"(?P<placement>in_place/|apart/|)(?P<rows>\d+)x(?P<cols>\d+)/threads:(?P<threads>\d+)$")
KV_ORDER = ["f32", "bf16", "f16", "int8", "fp8_e4m3"]
SAMPLE_FILTERS = ["topk50_topp0.9", "minp0.05", "topp0.9"]
TRAINING_KINDS = {"softmax_backward": "softmax backward", "log_softmax_backward": "log-softmax backward",
                  "cross_entropy": "cross-entropy"}


def by_target(medians, pattern):
    """{key: {isa: benchmark}} of the rows whose name matches pattern; the key
    is the pattern's groups but "isa", in order, numbers as int."""
    rows = collections.defaultdict(dict)
    for name, b in medians.items():
        if m := pattern.match(name):
            groups = m.groupdict()
            isa = groups.pop("isa")
            rows[tuple(int(v) if v.isdigit() else v for v in groups.values())][isa] = b
    return rows


def targets_of(cells, best_isa):
    """The targets in these {isa: benchmark} cells, best first, and the one
    the single-target columns show."""
    isas = [i for i in plot_bench.ISA_ORDER if any(i in c for c in cells)]
    return isas, best_isa if best_isa in isas else isas[0]


def order_of(value, known):
    return known.index(value) if value in known else len(known)


def serving_section(medians, best_isa):
    decode, mixed, gqa = (by_target(medians, p) for p in (SERVING_DECODE, SERVING_MIXED, SERVING_GQA))
    if not decode and not mixed and not gqa:
        return [], []
    isas, best = targets_of([*decode.values(), *mixed.values(), *gqa.values()], best_isa)
    out = ["## Serving: batched, paged and grouped-query attention", "",
           f"Decode of a batch of sequences (paged block tables or one dense tensor), a mixed batch (one "
           f"prefill beside decodes) and grouped-query decode of one sequence: per target the fraction of the "
           f"K/V twin (the same K/V bytes read once, on the same threads); of {best}: GB/s of K and V read "
           f"once, tokens/s, and its speed-up over the dense batch, over a call per KV head and a call per "
           f"query head (the same heads), and over one thread.", ""]

    def row(workload, kv, threads, cells):
        mine = cells.get(best, {})
        return ([workload, kv, str(threads)] + [fmt(cells.get(i, {}).get("roofline")) for i in isas]
                + [fmt(mine["bytes_per_second"] / 1e9 if "bytes_per_second" in mine else None, "{:.1f}"),
                   fmt(mine.get("items_per_second"), "{:.0f}")]
                + [fmt(mine.get(c), "{:.2f}x")
                   for c in ("vs_dense", "vs_kv_head_loop", "vs_query_head_loop", "speedup_vs_1t")])

    decode_keys = sorted(decode, key=lambda k: (order_of(k[0], KV_ORDER), k[1] != "paged", k[2:]))
    rows = [row(f"decode, B = {batch}, {layout}", kv, threads, decode[(kv, layout, batch, threads)])
            for kv, layout, batch, threads in decode_keys]
    rows += [row(f"prefill {p} + decode {d}", kv, threads, mixed[(kv, p, d, threads)])
             for kv, p, d, threads in sorted(mixed)]
    rows += [row(f"GQA decode, n = {plot_bench.human(n)}", kv, threads, gqa[(kv, n, threads)])
             for kv, n, threads in sorted(gqa, key=lambda k: (order_of(k[0], KV_ORDER), k[1:]))]
    head = ["workload", "K/V", "threads"] + [f"{i} of K/V twin" for i in isas] + [
        f"GB/s ({best})", f"tokens/s ({best})", "vs dense", "vs call per KV head", "vs call per query head",
        "vs one thread"]
    out += [table(head, rows), ""]

    headline = []
    said = [k for k in decode_keys if k[-1] == 1 and best in decode[k]]
    if said:
        kv, layout, batch, threads = min(said, key=lambda k: k[:2] != ("bf16", "paged"))
        mine = decode[(kv, layout, batch, threads)][best]
        headline.append(f"- serving decode ({best}, {batch} sequences, {kv} K/V {layout}, one thread): "
                        f"{fmt(mine.get('roofline'))} of the K/V twin, "
                        f"{fmt(mine.get('items_per_second'), '{:.0f}')} tokens/s"
                        + (f", {mine['vs_dense']:.2f}x the dense batch" if "vs_dense" in mine else ""))
    said = [k for k in sorted(mixed) if k[-1] > 1 and best in mixed[k]]
    if said:
        kv, p, d, threads = said[-1]
        mine = mixed[said[-1]][best]
        headline.append(f"- serving mixed batch ({best}, prefill {p} + decode {d}, {threads} threads): "
                        f"{fmt(mine.get('items_per_second'), '{:.0f}')} tokens/s, "
                        f"{fmt(mine.get('speedup_vs_1t'), '{:.2f}x')} one thread")
    said = [k for k in sorted(gqa, key=lambda k: (k[0] != "bf16", -k[1])) if k[-1] == 1 and best in gqa[k]]
    if said:
        kv, n, threads = said[0]
        mine = gqa[said[0]][best]
        headline.append(f"- serving GQA decode ({best}, {kv}, {plot_bench.human(n)} keys, one thread): "
                        f"{fmt(mine.get('roofline'))} of the K/V twin, "
                        f"{fmt(mine.get('vs_kv_head_loop'), '{:.2f}x')} a call per KV head, "
                        f"{fmt(mine.get('vs_query_head_loop'), '{:.2f}x')} a call per query head")
    return out, headline


def sampling_section(medians, best_isa):
    sample = by_target(medians, SAMPLE)
    if not sample:
        return [], []
    isas, best = targets_of(sample.values(), best_isa)
    keys = sorted(sample, key=lambda k: (k[2], order_of(k[0], KV_ORDER), order_of(k[1], SAMPLE_FILTERS), k))
    out = ["## Sampling, one token from a row of logits", "",
           f"softkern::sample (softmax, the filter, the draw): microseconds per draw per target; a peer's column "
           f"= its time / softkern's on {best} (above 1: softkern is faster): the sort reference (std::sort or "
           f"std::partial_sort, one thread) and PyTorch as vLLM's CPU sampler composes it (one intra-op "
           f"thread); *softmaxes* = the draw's time / softkern::softmax's over the same row.", ""]
    rows = []
    for dtype, name, n, threads in keys:
        cells = sample[(dtype, name, n, threads)]
        mine = cells.get(best, {})
        rows.append([f"{n:,}", dtype, name, str(threads)]
                    + [fmt(plot_bench.seconds(cells[i]) * 1e6 if i in cells else None, "{:.1f}") for i in isas]
                    + [fmt(mine.get("vs_sort_reference"), "{:.2f}x"), fmt(mine.get("vs_pytorch"), "{:.2f}x"),
                       fmt(mine.get("vs_softmax"))])
    head = ["logits", "type", "filter", "threads"] + [f"µs ({i})" for i in isas] + [
        f"sort reference ({best})", f"PyTorch ({best})", f"softmaxes ({best})"]
    out += [table(head, rows), ""]

    # The headline: each filter on the longest row, float32 if measured, one thread.
    said = [k for k in keys if k[-1] == 1 and best in sample[k]]
    if not said:
        return out, []
    dtype, _, n, _ = min(said, key=lambda k: (-k[2], k[0] != "f32"))
    parts = [f"{k[1]} {fmt(sample[k][best].get('vs_pytorch'), '{:.2f}x')} PyTorch, "
             f"{fmt(sample[k][best].get('vs_sort_reference'), '{:.2f}x')} the sort reference"
             for k in said if k[0] == dtype and k[2] == n]
    return out, [f"- sampling ({best}, {dtype}, {n:,} logits, one thread): " + "; ".join(parts)]


def training_section(medians, minima, best_isa):
    """minima: the "min" aggregates (fastest repetition) the training rows
    report besides the median; with them the fastest-repetition columns."""
    rows_of = by_target(medians, TRAINING)
    if not rows_of:
        return [], []
    isas, best = targets_of(rows_of.values(), best_isa)
    keys = sorted(rows_of, key=lambda k: (order_of(k[0], list(TRAINING_KINDS)), k[1], k[2] * k[3], k[4]))
    has_minima = any(name in minima for name in medians if TRAINING.match(name))
    out = ["## Training: softmax backward and cross-entropy", "",
           f"Softmax and log-softmax backward, cross-entropy forward + backward (gradient in place over the "
           f"logits or apart): per target the fraction of the roofline twin (the same passes over the same "
           f"bytes, trivial arithmetic, same threads); of {best}: GB/s (each input read once, the output "
           f"written once), PyTorch's time (its own row) / softkern's at the same thread count (above 1: softkern is "
           f"faster), and the most memory the call held beyond its inputs and outputs, beside PyTorch's."
           + (" *Fastest*: the same ratios of the fastest repetitions (the `min` aggregates), which carry the "
              "least of other processes' time on a shared machine." if has_minima else ""), ""]

    def names(kind, placement, rows, cols, threads):
        shape = f"{rows}x{cols}/threads:{threads}"
        twin = f"cross_entropy_twin/{placement}{shape}" if kind == "cross_entropy" else f"backward_twin/{kind}/{shape}"
        return f"{kind}/{best}/{placement}{shape}", twin, f"peer/pytorch/{kind}/{shape}"

    def ratio(of, to):
        return plot_bench.seconds(of) / plot_bench.seconds(to) if of and to else None

    rows, headline = [], {}
    for key in keys:
        kind, placement, r, c, threads = key
        cells, (kernel, twin, peer) = rows_of[key], names(*key)
        mine = cells.get(best, {})
        fastest_twin = ratio(minima.get(twin), minima.get(kernel))
        fastest_peer = ratio(minima.get(peer), minima.get(kernel))
        # PyTorch's own row, timed while softkern's pool sleeps; the row's
        # vs_pytorch counter times PyTorch inside softkern's row, where its
        # threads can meet softkern's still spinning on the 2 cores.
        vs_pytorch = ratio(medians.get(peer), medians.get(kernel)) or mine.get("vs_pytorch")
        label = TRAINING_KINDS[kind] + (" " + placement.rstrip("/").replace("_", " ") if placement else "")
        row = [label, f"{r} × {c:,}" if kind == "cross_entropy" else f"{r} × {plot_bench.human(c)}", str(threads)]
        row += [fmt(cells.get(i, {}).get("roofline")) for i in isas]
        row += [fmt(mine["bytes_per_second"] / 1e9 if "bytes_per_second" in mine else None, "{:.1f}"),
                fmt(vs_pytorch, "{:.2f}x")]
        row += [fmt(fastest_twin), fmt(fastest_peer, "{:.2f}x")] if has_minima else []
        row += [fmt(mine.get("peak_extra_bytes"), "{:,.0f}"),
                fmt(medians.get(peer, {}).get("peak_extra_bytes"), "{:,.0f}")]
        rows.append(row)
        # The headline: each kernel's largest shape on one thread (cross-entropy
        # apart, the layout PyTorch's row computes).
        if threads == 1 and mine and placement != "in_place/":
            said = [f"{fmt(mine.get('roofline'))} of its twin"]
            said += [f"{vs_pytorch:.2f}x PyTorch"] if vs_pytorch else []
            quickest = [f"{fastest_twin:.2f} of its twin"] if fastest_twin else []
            quickest += [f"{fastest_peer:.2f}x PyTorch"] if fastest_peer else []
            headline[kind] = (f"- {label} ({best}, {row[1]}, one thread): " + ", ".join(said)
                              + (f" (fastest repetitions: {', '.join(quickest)})" if quickest else ""))
    head = ["kernel", "shape", "threads"] + [f"{i} of twin" for i in isas] + [f"GB/s ({best})", f"PyTorch ({best})"]
    head += ["of twin, fastest", "PyTorch, fastest"] if has_minima else []
    head += [f"extra bytes ({best})", "PyTorch extra bytes"]
    out += [table(head, rows), ""]
    return out, list(headline.values())


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
    minima = {b.get("run_name", "").replace("/real_time", ""): b for b in benchmarks
              if b.get("aggregate_name") == "min" and not b.get("error_occurred")}
    sections = [attention_section(medians, best_isa), serving_section(medians, best_isa),
                sampling_section(medians, best_isa), training_section(medians, minima, best_isa)]
    if not softkern and not any(section for section, _ in sections):
        lines.append("No softkern softmax, attention, serving, sampling or training results in this run "
                     "(see --benchmark_filter).")
    headline = (softmax_headline(softkern, roofline, peers, best_isa) if softkern else []) + [
        line for _, said in sections for line in said]
    if headline:
        lines += headline + [""]
    if softkern:
        lines += softmax_section(softkern, roofline, peers, medians, bound)
    for section, _ in sections:
        lines += section

    summary = os.path.join(out_dir, "summary.md")
    with open(summary, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print("\n" + "\n".join(lines).rstrip())
    charts = write_charts(softkern, twins, peers, medians, best_isa, out_dir, title)
    print(f"\nwrote {summary} and {len(charts)} chart{'s' if len(charts) != 1 else ''}"
          f"{' (' + ', '.join(os.path.basename(c) for c in charts) + ')' if charts else ''}; the results: {args.json}")


if __name__ == "__main__":
    main()
