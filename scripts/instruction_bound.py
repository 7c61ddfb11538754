#!/usr/bin/env python3
"""scripts/instruction_bound.py — the compute-side limit of softkern's softmax.

Finds each pass's inner loop in the disassembly of a binary that contains the
kernels (the bench, or any program linked with softkern_impl), counts its
instructions per vector by issue-port class, and turns the counts into a
lower bound on cycles per element for each algorithm on each machine model
below. With --bench JSON (a run of softkern_bench with
--benchmark_out_format=json, which includes the cpu_clock benchmark), it
also reads each in-cache kernel's measured time per element and prints it
against that bound. docs/compute-bound.md explains the model.
scripts/bench_summary.py imports it (bounds_of, clock_ghz) for the compute
column of the bench's summary.

  scripts/instruction_bound.py [--binary build/bench/softkern_bench]
                               [--objdump aarch64-linux-gnu-objdump]
                               [--bench results.json] [--loops]

Each pass's inner loop is the body of FoldBlock<kStore, Acc, T> (the
reductions) or MapRow<T, F> (the final maps), one symbol each
(softmax-inl.hpp). The loop counted is the function's largest innermost loop
that makes no non-temporal stores: the loop unrolled four vectors deep that
runs while the row is in cache.
"""
import argparse
import collections
import json
import re
import subprocess
import sys

# ------------------------------------------------------------ port classes
# fma: the FMA/multiply pipes; fadd: FP add, compare, min/max, conversions;
# valu: vector integer, logic, blend, shift and shuffle ops; load, store; and
# scalar (address arithmetic, loop control), which only takes issue slots.
X86_CLASSES = [
    ("store", r"^(vmovnt|vmovntps|vmovups|vmovaps|vmovdqu|vmovdqa|vextract|vcvtps2ph|vpmov|vmovd|vmovq)"),
    ("fma", r"^(vfn?m(add|sub)|vmul|vscalef|vrcp|vdiv|vsqrt|vgetexp)"),
    ("fadd", r"^(vadd|vsub|vmax|vmin|vcmp|vround|vrndscale|vcvt|vrange|vhadd)"),
    ("valu", r"^(vp|vand|vor|vxor|vblend|vperm|vshuf|vunpck|vinsert|vbroadcast|vextract|k)"),
    ("prefetch", r"^prefetch"),
]
ARM_CLASSES = [
    ("fma", r"^(fmla|fmls|fmul|fmad|fmsb|fnmla|fnmls|fscale|frecp|fdiv)"),
    ("fadd", r"^(fadd|fsub|fmax|fmin|fcm|frint|fcvt|scvtf|ucvtf|faddp|fmaxnm|fminnm|fabd|fneg|fabs)"),
    ("valu", r"^(add|sub|shl|sshl|ushl|ushr|sshr|and|orr|eor|bic|bsl|bit|bif|mov|dup|zip|uzp|ext|tbl|xtn|uxtl|sxtl|movi|mvn|sel|cm|not)"),
    ("prefetch", r"^prf"),
]

# Issue resources per cycle, per 256-bit op (a 512-bit op on Zen 4 is
# double-pumped: it takes its pipe for two cycles, counted by `wide`).
MACHINES = {
    "zen3": dict(desc="AMD Zen 3: FP0/FP1 FMA+mul, FP2/FP3 add; vector integer on all four; "
                      "2 loads and 1 store of 256 bits per cycle; 6 macro-ops dispatched per cycle",
                 fma=2, fadd=2, vec=4, load=2, store=1, width=6, wide512=None),
    "zen4": dict(desc="AMD Zen 4: as Zen 3; a 512-bit op occupies its 256-bit pipe for 2 cycles "
                      "(loads and stores likewise)",
                 fma=2, fadd=2, vec=4, load=2, store=1, width=6, wide512=2),
    "icelake": dict(desc="Intel Ice Lake server: FP ops on p0/p1 (256-bit) or p0+p1/p5 (512-bit), "
                         "vector integer on p0/p1/p5 (512-bit: p0/p5); 2 loads, 1 store per cycle; 5 wide",
                    fma=2, fadd=2, vec=3, load=2, store=1, width=5, wide512=1, vec512=2, shared_fp=True),
    "cortex-a72": dict(desc="Arm Cortex-A72: 2 128-bit FP/ASIMD pipes (F0, F1) shared by FMA, add and "
                            "integer ops; 1 load and 1 store per cycle; 3 wide",
                       fma=2, fadd=2, vec=2, load=1, store=1, width=3, wide512=None, shared_fp=True),
}

ALGORITHMS = {
    # name: passes (each pass a key of PASSES)
    "three_pass_recompute": ["max", "sum_exp", "map_exp"],
    "three_pass_reload": ["max", "sum_exp_store", "map_scale"],
    "two_pass": ["max", "two_pass_sum", "two_pass_map"],
    "online": ["max", "sum_exp", "map_exp"],
    "two_pass+temperature": ["max", "two_pass_sum_t", "two_pass_map_t"],
    "three_pass_reload+log": ["max", "sum_z_store", "map_log_reload"],
    "two_pass+log": ["max", "two_pass_sum", "two_pass_map_log"],
}

# Demangled-name patterns of each pass (T is the element type). Temperature
# is folded into the constants of the same loops, so "+temperature" runs the
# loops of the plain call.
def pass_patterns(t):
    ns = r"softkern::detail::N_\w+::"
    fold = r"FoldBlock<{store}, " + ns
    sum_exp = r"SumExpAcc<" + ns + r"ShiftedExp<" + t + r">, {z}>, " + t + r">"
    two_pass_map = r"MapRow<" + t + r", " + ns + r"TwoPassMap<" + t + r">.*#3\}>"
    two_pass_sum = fold.format(store="false") + r"TwoPassAcc::LeafSum, " + t + r">"
    return {
        "max": fold.format(store="false") + r"MaxAcc, " + t + r">",
        "sum_exp": fold.format(store="false") + sum_exp.format(z="false"),
        "sum_exp_store": fold.format(store="true") + sum_exp.format(z="false"),
        "sum_z_store": fold.format(store="true") + sum_exp.format(z="true"),
        "two_pass_sum": two_pass_sum,
        "two_pass_sum_t": two_pass_sum,
        "map_exp": r"MapRow<" + t + r", " + ns + r"ThreePassMap<" + t + r">.*#2\}>",
        "map_scale": r"MapRow<" + t + r", " + ns + r"ReloadMap<" + t + r">.*#2\}>",
        "map_log_reload": r"MapRow<" + t + r", " + ns + r"ReloadMap<" + t + r">.*#1\}>",
        "two_pass_map": two_pass_map,
        "two_pass_map_t": two_pass_map,
        "two_pass_map_log": r"MapRow<" + t + r", " + ns + r"TwoPassMap<" + t + r">.*#1\}>",
    }

TYPES = {"f32": "float", "bf16": "hwy::bfloat16_t", "f16": "hwy::float16_t"}
TARGETS = {"avx2": ("N_AVX2", 8, 256), "avx512": ("N_AVX3", 16, 512), "neon": ("N_NEON", 4, 128),
           "sve": ("N_SVE", None, None), "sve2": ("N_SVE2", None, None)}


def disassemble(binary, objdump):
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", binary], check=True,
                         capture_output=True, text=True).stdout
    functions = {}
    name = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            name = m.group(1)
            functions[name] = []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and name is not None:
            functions[name].append((int(m.group(1), 16), m.group(2), m.group(3)))
    return functions


def branch_target(mnemonic, operands):
    """The target of a conditional branch (a loop's back edge is one)."""
    conditional = (mnemonic.startswith("j") and mnemonic != "jmp") or mnemonic.startswith("b.") or \
        mnemonic in ("cbz", "cbnz", "tbz", "tbnz")
    if not conditional:
        return None
    m = re.search(r"\b([0-9a-f]+) <", operands)
    return int(m.group(1), 16) if m else None


def inner_loop(instrs, need=None):
    """The largest innermost loop without non-temporal stores (and, with
    `need`, with that mnemonic in it): its instructions."""
    loops = []
    for i, (addr, mn, ops) in enumerate(instrs):
        t = branch_target(mn, ops)
        if t is not None and t <= addr:
            start = next((k for k, ins in enumerate(instrs) if ins[0] == t), None)
            if start is not None:
                loops.append((start, i))
    innermost = [(s, e) for (s, e) in loops
                 if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for (s2, e2) in loops)]
    best = None
    for s, e in innermost:
        body = instrs[s:e + 1]
        if any("movnt" in mn or mn.startswith("stnp") for _, mn, _ in body):
            continue
        if need is not None and not any(mn == need for _, mn, _ in body):
            continue
        if best is None or len(body) > len(best):
            best = body
    return best


def classify(body, arch):
    """Counts of one loop body per port class (a folded load counts twice:
    on the load port and in its operation's class)."""
    table = ARM_CLASSES if arch == "arm" else X86_CLASSES
    counts = collections.Counter()
    for _, mn, ops in body:
        if arch == "x86":
            last = ops.split(",")[-1] if ops else ""
            mem = "(" in ops
            if mn.startswith("prefetch"):
                cls = "prefetch"
            elif mn.startswith("v") and "(" in last:
                cls = "store"
            elif mn.startswith("v") and mem and re.match(r"^(vmovu|vmova|vmovdq|vbroadcast|vpbroadcast|vmovs)", mn):
                cls = "load"
            elif re.match(r"^(vmovaps|vmovups|vmovdqa|vmovdqu)", mn) and not mem:
                cls = "move"  # register copy: eliminated at rename, takes an issue slot only
            else:
                cls = "scalar"
                if mn.startswith(("v", "k")):
                    cls = next((c for c, pat in table if c not in ("store", "prefetch") and re.match(pat, mn)),
                               "valu")
                if mem and mn.startswith("v"):
                    counts["load"] += 1
        else:
            if mn.startswith("prf"):
                cls = "prefetch"
            elif mn.startswith("ld"):
                cls = "load"
            elif mn.startswith("st"):
                cls = "store"
            elif re.search(r"\b[vqz]\d+", ops):
                cls = next((c for c, pat in table if re.match(pat, mn)), "valu")
            else:
                cls = "scalar"
        counts[cls] += 1
    counts["total"] = len(body)
    return counts


def cycles_per_vector(c, machine, wide):
    """Lower bound on cycles per vector for one loop's counts (per vector)."""
    m = MACHINES[machine]
    w = 1
    vec = m["vec"]
    if wide == 512:
        if m.get("wide512") is None:
            return None
        w = m["wide512"]
        vec = m.get("vec512", vec)
    fp = c["fma"] + c["fadd"]
    limits = {
        "fma": c["fma"] * w / m["fma"],
        "fadd": c["fadd"] * w / m["fadd"],
        "vector": (fp + c["valu"]) * w / vec,
        "load": c["load"] * w / m["load"],
        "store": c["store"] * w / m["store"],
        "issue": c["total"] / m["width"],
    }
    if m.get("shared_fp"):  # FMA, add and mul share the same two pipes
        limits["fp"] = fp * w / 2
    port = max(limits, key=limits.get)
    return limits[port], port


MACHINES_FOR = {"avx2": ["zen3", "zen4", "icelake"], "avx512": ["zen4", "icelake"], "neon": ["cortex-a72"]}


def count_passes(binary, objdump="objdump", loops=False):
    """{(target, type, pass): counts per vector} of every pass's inner loop
    found in the binary; with loops, prints each loop counted."""
    arch = "arm" if "aarch64" in objdump else "x86"
    functions = disassemble(binary, objdump)
    per_pass = {}
    for target, (ns, lanes, bits) in TARGETS.items():
        for tname, ctype in TYPES.items():
            for pname, pat in pass_patterns(re.escape(ctype).replace("\\ ", " ")).items():
                rx = re.compile(pat.replace("N_\\w+", ns))
                names = [f for f in functions if rx.search(f) and "::" + ns + "::" in f]
                if not names:
                    continue
                # bf16i: bf16 rows on CPUs with AVX-512 BF16, whose maps run
                # the loop that rounds with vcvtneps2bf16 (the other passes
                # are bf16's).
                variants = [(tname, None)]
                if tname == "bf16" and target == "avx512":
                    variants.append(("bf16i", "vcvtneps2bf16"))
                for vname, need in variants:
                    body = inner_loop(functions[names[0]], need)
                    if body is None and need is not None:  # a pass without the instruction: bf16's loop
                        body = inner_loop(functions[names[0]])
                    if body is None:
                        continue
                    c = classify(body, arch)
                    vectors = 4
                    per = collections.defaultdict(float, {k: v / vectors for k, v in c.items()})
                    per_pass[(target, vname, pname)] = per
                    if loops:
                        print(f"--- {target} {vname} {pname}: {names[0][:140]}")
                        for addr, mn, ops in body:
                            print(f"    {addr:x}: {mn} {ops}")
    return per_pass


def algorithm_bounds(per_pass):
    """[(target, type, algorithm, machine, cycles per element, instructions
    per vector, binding resource of each pass)] for every algorithm whose
    passes were all found, on every machine model of its target."""
    rows = []
    for target, (ns, lanes, bits) in TARGETS.items():
        if target not in MACHINES_FOR:
            continue
        for tname in list(TYPES) + ["bf16i"]:
            for alg, passes in ALGORITHMS.items():
                if not all((target, tname, p) in per_pass for p in passes):
                    continue
                for machine in MACHINES_FOR[target]:
                    total = 0.0
                    why = []
                    for p in passes:
                        r = cycles_per_vector(per_pass[(target, tname, p)], machine, bits)
                        if r is None:
                            break
                        total += r[0]
                        why.append(f"{p}:{r[0]:.2f}({r[1]})")
                    else:
                        instr = sum(per_pass[(target, tname, p)]["total"] for p in passes)
                        rows.append((target, tname, alg, machine, total / lanes, instr, why))
    return rows


def bounds_of(binary, objdump="objdump"):
    """{(target, type, algorithm, machine): cycles per element}."""
    return {r[:4]: r[4] for r in algorithm_bounds(count_passes(binary, objdump))}


def clock_ghz(benchmarks):
    """The core clock the bench's cpu_clock benchmark measured (median), or None."""
    for b in benchmarks:
        if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
            continue
        if b.get("run_name", b["name"]).startswith("cpu_clock"):
            # 2^22 dependent adds per iteration (softmax_bench.cpp: BenchCpuClock).
            return (1 << 22) / (b["cpu_time"] * {"us": 1e3, "ms": 1e6, "ns": 1.0, "s": 1e9}[b["time_unit"]])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/bench/softkern_bench")
    ap.add_argument("--objdump", default="objdump")
    ap.add_argument("--bench", help="softkern_bench JSON output to read measured times from")
    ap.add_argument("--loops", action="store_true", help="print each counted loop")
    args = ap.parse_args()
    per_pass = count_passes(args.binary, args.objdump, args.loops)

    print("Instructions per vector of each pass's inner loop (fma/fadd/valu/load/store/other):")
    for (target, tname, pname), c in sorted(per_pass.items()):
        print(f"  {target:7s} {tname:4s} {pname:17s} {c['total']:5.2f}  "
              f"fma {c['fma']:.2f} fadd {c['fadd']:.2f} valu {c['valu']:.2f} load {c['load']:.2f} "
              f"store {c['store']:.2f} move {c['move']:.2f} other {c['scalar'] + c['prefetch']:.2f}")

    bounds = {}  # (target, type, algorithm, machine) -> cycles per element
    print("\nBound per algorithm (cycles per element; binding resource of each pass):")
    for target, tname, alg, machine, per_element, instr, why in algorithm_bounds(per_pass):
        bounds[(target, tname, alg, machine)] = per_element
        print(f"  {target:7s} {tname:4s} {alg:22s} {machine:10s} {per_element:6.3f} c/elem "
              f"({instr:.1f} instr/vector) " + " ".join(why))

    if args.bench:
        report_measured(args.bench, bounds)


def report_measured(path, bounds):
    data = json.load(open(path))
    ghz = clock_ghz(data["benchmarks"])
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        rows[b.get("run_name", b["name"]).replace("/real_time", "")] = b
    if ghz is None:
        sys.exit("no cpu_clock benchmark in " + path)
    print(f"\nMeasured (medians of CPU time, which leaves out the time other processes hold the core) "
          f"against the Zen 4 bound, clock {ghz:.2f} GHz (cpu_clock: a chain of dependent adds):")
    print(f"  {'kernel':46s} {'ns/elem':>8s} {'bound':>8s} {'bound/t':>8s}")
    for name, b in rows.items():
        m = re.match(r"softmax/(avx2|avx512)/([a-z_]+(?:\+[a-z]+)?)/(\d+)$", name)
        if not m:
            continue
        target, alg, n = m.group(1), m.group(2), int(m.group(3))
        if n > (1 << 20):
            continue
        key = (target, "f32", alg, "zen4")
        if key not in bounds:
            continue
        ns = b["cpu_time"] * {"us": 1e3, "ms": 1e6, "ns": 1.0}[b["time_unit"]] / n
        bound_ns = bounds[key] / ghz
        print(f"  {name:46s} {ns:8.3f} {bound_ns:8.3f} {bound_ns / ns:8.2f}")


if __name__ == "__main__":
    main()
