#!/usr/bin/env python3
"""scripts/instruction_bound.py — the compute-side limit of softkern's softmax.

Finds each pass's inner loop in the disassembly of a binary that contains the
kernels (the bench, or any program linked with softkern_impl), sorts its
instructions into classes, places the classes on the execution pipes of a
per-core model (which class issues on which pipes, how many pipe cycles a
512-bit op takes there, the load and store ports, the dispatch width), and
reports per pass the busiest resource: a lower bound on cycles per vector.
An algorithm's bound is the sum over its passes, per element. With --bench
JSON (a run of softkern_bench with --benchmark_out_format=json, which
includes the cpu_clock benchmark and the per-pass rows) it also prints each
in-cache kernel's and pass's measured time against that bound.
docs/compute-bound.md explains the model and its sources.
scripts/bench_summary.py imports it (bounds_of, clock_ghz, MACHINES) for the
compute column of the bench's summary.

  scripts/instruction_bound.py [--binary build/bench/softkern_bench]
                               [--objdump aarch64-linux-gnu-objdump]
                               [--machine zen5] [--bench results.json]
                               [--loops] [--pipes]

Each pass's inner loop is in one non-inlined function: ReduceLeaves<kStore,
Acc, T> (the reductions, softmax_rows-inl.hpp; FoldBlock<kStore, Acc, T> in
binaries built before it) or MapRow<T, F> (the final maps). The loop counted
is the function's largest innermost loop that makes no non-temporal stores
and no prefetches: the loop unrolled four vectors deep that runs while the
row is in cache.
"""
import argparse
import collections
import itertools
import json
import re
import subprocess
import sys

from pipe_models import ARM_CLASSES, MACHINES, X86_CLASSES  # noqa: E402 (scripts/pipe_models.py)

ALGORITHMS = {
    # name: passes (each pass a key of pass_patterns)
    "three_pass_recompute": ["max", "sum_exp", "map_exp"],
    "three_pass_reload": ["max", "sum_exp_store", "map_scale"],
    "two_pass": ["max", "two_pass_sum", "two_pass_map"],
    "online": ["max", "sum_exp", "map_exp"],
    "two_pass+temperature": ["max", "two_pass_sum_t", "two_pass_map_t"],
    "three_pass_reload+log": ["max", "sum_z_store", "map_log_reload"],
    "two_pass+log": ["max", "two_pass_sum", "two_pass_map_log"],
}
# The two-pass reduction folds each leaf twice, its max and then its sum
# while the leaf is in L1: its loops are the max pass's and two_pass_sum.


# Demangled-name patterns of each pass (T is the element type). Temperature
# is folded into the constants of the same loops, so "+temperature" runs the
# loops of the plain call.
def pass_patterns(t):
    ns = r"softkern::detail::N_\w+::"
    fold = r"(?:ReduceLeaves|FoldBlock)<{store}, " + ns
    sum_exp = r"SumExpAcc<" + ns + r"ShiftedExp<" + t + r">, {z}>, " + t + r">"
    two_pass_map = r"MapRow<" + t + r", " + ns + r"TwoPassMap<" + t + r">.*#3\}>"
    two_pass_sum = r"(?:ReduceLeaves<false, " + ns + r"TwoPassAcc, " + t + r">|FoldBlock<false, " + ns + \
        r"TwoPassAcc::LeafSum, " + t + r">)"
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
MACHINES_FOR = {"avx2": ["zen3", "zen4", "zen5", "icelake"], "avx512": ["zen4", "zen5", "icelake"],
                "neon": ["cortex-a72", "neoverse-n1", "neoverse-v1"]}


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


def innermost_loops(instrs):
    loops = []
    for i, (addr, mn, ops) in enumerate(instrs):
        t = branch_target(mn, ops)
        if t is not None and t <= addr:
            start = next((k for k, ins in enumerate(instrs) if ins[0] == t), None)
            if start is not None:
                loops.append((start, i))
    return [instrs[s:e + 1] for (s, e) in loops
            if not any((s2, e2) != (s, e) and s <= s2 and e2 <= e for (s2, e2) in loops)]


def is_streaming(body):
    return any("movnt" in mn or mn.startswith("stnp") for _, mn, _ in body)


def is_prefetching(body):
    return any(mn.startswith("prefetch") or mn.startswith("prf") for _, mn, _ in body)


def inner_loop(instrs, need=None):
    """The largest innermost loop without non-temporal stores (and, with
    `need`, with that mnemonic in it), preferring loops without prefetches
    (the in-cache loop where a pass has both): its instructions."""
    loops = [b for b in innermost_loops(instrs)
             if not is_streaming(b) and (need is None or any(mn == need for _, mn, _ in b))]
    # The four-vector loops: four or more vector loads, and (prefetches left
    # out) within a quarter of the largest such loop; the one without
    # prefetches first.
    def size(b):
        return len(b) - sum(mn.startswith(("prefetch", "prf")) for _, mn, _ in b)
    candidates = [b for b in loops if sum(op.load for op in loop_ops(b, arch_of(b))[0]) >= 4]
    if not candidates:
        return None
    largest = max(size(b) for b in candidates)
    unrolled = [b for b in candidates if size(b) >= 0.75 * largest]
    return max(unrolled, key=lambda b: (not is_prefetching(b), len(b)))


def arch_of(body):
    return "x86" if any(mn.startswith("v") for _, mn, _ in body) or \
        any("%" in ops for _, _, ops in body) else "arm"


def split_operands(ops):
    """AT&T operands split at top-level commas, masks ({%k1}, {z}) removed."""
    ops = re.sub(r"\{[^}]*\}", "", ops).split("#")[0].strip()
    parts, depth, cur = [], 0, ""
    for ch in ops:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def x86_width(ops):
    if "zmm" in ops:
        return 512
    if "ymm" in ops:
        return 256
    return 128


# An op: (class, width, loads, stores, prefetches, macro_ops)
Op = collections.namedtuple("Op", "cls width load store prefetch")


def classify_x86(mn, ops):
    parts = split_operands(ops)
    width = x86_width(ops)
    masked = "{%k" in ops
    mem_dest = bool(parts) and "(" in parts[-1]
    mem_src = any("(" in p for p in parts[:-1])
    if mn.startswith("prefetch"):
        return [Op("prefetch", 0, 0, 0, 1)]
    if not mn.startswith(("v", "k")):
        return [Op("scalar", 0, 0, 0, 0)]
    if mem_dest:
        # A store; vextract/vcvtps2ph/vpmov* to memory also convert or shuffle.
        extra = []
        if mn.startswith("vcvt"):
            extra = [Op("cvt", width, 0, 0, 0)]
        elif re.match(r"^(vextract|vpmov)", mn):
            extra = [Op("shuffle", width, 0, 0, 0)]
        store_width = 256 if (mn.startswith("vcvtps2ph") or mn.startswith("vextract")) and width == 512 else width
        if mn.startswith("vcvtps2ph") and width == 256:
            store_width = 128
        return extra + [Op("store", store_width, 0, 1, 0)]
    if re.match(r"^(vmovu|vmova|vmovdq|vmovs|vmovaps|vmovups)", mn):
        if mem_src:
            return [Op("load", width, 1, 0, 0)]
        if masked:
            return [Op("blend", width, 0, 0, 0)]
        return [Op("move", width, 0, 0, 0)]
    if re.match(r"^(vbroadcastss|vpbroadcastd)", mn) and mem_src:
        return [Op("load", width, 1, 0, 0)]
    table = X86_CLASSES
    cls = next((c for c, pat in table if re.match(pat, mn)), "ialu")
    # A loaded operand of a widening op is half its destination's width.
    load_width = width // 2 if re.match(r"^(vcvtph2ps|vpmovzx|vpmovsx)", mn) else width
    out = [Op(cls, width, 0, 0, 0)]
    if mem_src:
        out.append(Op("load", load_width, 1, 0, 0))
    return out


def arm_vector_regs(ops):
    return re.findall(r"\b([vqz])(\d+)(?:\.(\d*)([bhsd]))?", ops)


def classify_arm(mn, ops):
    if mn.startswith("prf"):
        return [Op("prefetch", 0, 0, 0, 1)]
    vec = re.search(r"\b[vqz]\d+", ops) is not None
    if mn.startswith("ld") and vec:
        regs = len(re.findall(r"\b[vqz]\d+", ops.split("[")[0]))
        return [Op("load", 128, 1, 0, 0) for _ in range(max(regs, 1))]
    if mn.startswith("st") and vec:
        regs = len(re.findall(r"\b[vqz]\d+", ops.split("[")[0]))
        return [Op("store", 128, 0, 1, 0) for _ in range(max(regs, 1))]
    if mn.startswith(("ld", "st")):
        return [Op("scalar", 0, 0, 0, 0)]
    if not vec:
        return [Op("scalar", 0, 0, 0, 0)]
    cls = next((c for c, pat in ARM_CLASSES if re.match(pat, mn)), "logic")
    return [Op(cls, 128, 0, 0, 0)]


def loop_ops(body, arch):
    ops = []
    fused = 0
    prev = None
    for _, mn, operands in body:
        ops.extend(classify_arm(mn, operands) if arch == "arm" else classify_x86(mn, operands))
        # A compare (or add/sub) followed by a conditional branch dispatches as one macro-op.
        if arch == "x86" and prev in ("cmp", "test", "add", "sub", "dec", "inc") and \
                mn.startswith("j") and mn != "jmp":
            fused += 1
        prev = re.sub(r"[lqwb]$", "", mn) if mn.startswith(("cmp", "test", "add", "sub", "dec", "inc")) else mn
    return ops, len(body) - fused


def class_counts(ops):
    c = collections.Counter()
    for op in ops:
        c[op.cls] += 1
    return c


def pipe_demand(ops, machine, wide_bits):
    """{pipe set: pipe cycles} for the vector ops of one loop on `machine`."""
    m = MACHINES[machine]
    demand = collections.defaultdict(float)
    for op in ops:
        if op.cls in ("load", "store", "prefetch", "scalar", "move"):
            continue
        classes = m.get("classes512") if op.width == 512 and "classes512" in m else m["classes"]
        key = op.cls
        if op.cls == "shift" and op.width == 512 and "shift512" in classes:
            key = "shift512"
        pipes, slots = classes[key]
        width = op.width if op.width in m["wide"] else max(m["wide"])
        demand[pipes] += slots * m["wide"].get(width, 1)
    return demand


def pipe_bound(demand, machine):
    """The least time in which the pipes can issue `demand` (ops that may go
    on several pipes are spread over them as evenly as they can be): the
    largest, over every set S of pipes, of the work that can only run on S,
    divided by |S|. Returns (cycles, the binding set)."""
    pipes = MACHINES[machine]["pipes"]
    best = (0.0, ())
    for r in range(1, len(pipes) + 1):
        for subset in itertools.combinations(pipes, r):
            work = sum(w for ps, w in demand.items() if set(ps) <= set(subset))
            if work / r > best[0] + 1e-9:
                best = (work / r, subset)
    return best


def cycles_per_vector(ops, macro_ops, machine, bits, vectors):
    """Lower bound on cycles per vector of one loop on `machine`, and the
    binding resource."""
    m = MACHINES[machine]
    if bits not in m["wide"]:
        return None
    demand = pipe_demand(ops, machine, bits)
    pipe_cycles, pipe_set = pipe_bound(demand, machine)
    loads = [op for op in ops if op.load]
    stores = [op for op in ops if op.store]
    prefetches = sum(op.prefetch for op in ops)
    limits = {
        "pipes " + "/".join(pipe_set): pipe_cycles,
        "load ports": max(len(loads) / m["loads"], sum(op.width for op in loads) / 8 / m["load_bytes"]),
        "store ports": max(len(stores) / m["stores"], sum(op.width for op in stores) / 8 / m["store_bytes"]),
        "memory ops": (len(loads) + len(stores) + prefetches) / m["mem_ops"],
        "dispatch": macro_ops / m["width"],
    }
    port = max(limits, key=limits.get)
    return limits[port] / vectors, port, {k: v / vectors for k, v in demand.items()}


def pipe_summary(demand):
    return " ".join(f"{'/'.join(ps)} {w:.2f}" for ps, w in sorted(demand.items()))


def find_passes(functions, arch, loops_out):
    """{(target, type, pass): (ops, macro_ops, vectors)} for every pass found."""
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
                    ops, macro = loop_ops(body, arch)
                    per_pass[(target, vname, pname)] = (ops, macro, 4)
                    if loops_out:
                        print(f"--- {target} {vname} {pname}: {names[0][:140]}")
                        for addr, mn, o in body:
                            print(f"    {addr:x}: {mn} {o}")
    return per_pass


def algorithm_bounds(per_pass):
    """[(target, type, algorithm, machine, cycles per element, macro-ops per
    vector, each pass's cycles per vector and binding resource)] for every
    algorithm whose passes were all found, on every model of its target."""
    rows = []
    for target, (ns, lanes, bits) in TARGETS.items():
        for tname in list(TYPES) + ["bf16i"]:
            for alg, passes in ALGORITHMS.items():
                if not all((target, tname, p) in per_pass for p in passes):
                    continue
                for machine in MACHINES_FOR.get(target, []):
                    total = 0.0
                    why = []
                    for p in passes:
                        ops, macro, vectors = per_pass[(target, tname, p)]
                        r = cycles_per_vector(ops, macro, machine, bits, vectors)
                        total += r[0]
                        why.append(f"{p}:{r[0]:.2f}({r[1]})")
                    instr = sum(per_pass[(target, tname, p)][1] / 4 for p in passes)
                    rows.append((target, tname, alg, machine, total / lanes, instr, why))
    return rows


def bounds_of(binary, objdump="objdump"):
    """{(target, type, algorithm, machine): cycles per element}."""
    arch = "arm" if "aarch64" in objdump else "x86"
    per_pass = find_passes(disassemble(binary, objdump), arch, False)
    return {r[:4]: r[4] for r in algorithm_bounds(per_pass)}


def clock_ghz(benchmarks):
    """The core clock the bench's cpu_clock benchmark measured (median), or None."""
    for b in benchmarks:
        if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
            continue
        if b.get("run_name", b["name"]).startswith("cpu_clock"):
            # 2^22 dependent adds per iteration (softmax_bench.cpp: BenchCpuClock).
            return (1 << 22) / median_ns(b)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/bench/softkern_bench")
    ap.add_argument("--objdump", default="objdump")
    ap.add_argument("--bench", help="softkern_bench JSON output to read measured times from")
    ap.add_argument("--machine", help="model to read --bench against (default: this CPU's, else zen5)")
    ap.add_argument("--loops", action="store_true", help="print each counted loop")
    ap.add_argument("--pipes", action="store_true", help="print each pass's pipe cycles per vector per model")
    args = ap.parse_args()
    arch = "arm" if "aarch64" in args.objdump else "x86"
    functions = disassemble(args.binary, args.objdump)
    per_pass = find_passes(functions, arch, args.loops)

    print("Instructions per vector of each pass's inner loop, by class:")
    for (target, tname, pname), (ops, macro, vectors) in sorted(per_pass.items()):
        c = class_counts(ops)  # a load folded into an operation counts in both classes
        instr = macro / vectors
        fields = " ".join(f"{k} {c[k] / vectors:.2f}" for k in
                          ("fma", "fadd", "fminmax", "fcmp", "round", "scalef", "fixup", "cvt", "cvtnarrow", "shift",
                           "shuffle", "blendv", "blend", "ialu", "logic", "kmask", "load", "store", "prefetch",
                           "move", "scalar") if c[k])
        print(f"  {target:7s} {tname:5s} {pname:17s} {instr:5.2f} macro-ops  {fields}")

    print("\nPer pass and model: cycles per vector (binding resource)" +
          ("; pipe cycles per vector per pipe set" if args.pipes else "") + ":")
    per_pass_bound = {}
    for (target, tname, pname), (ops, macro, vectors) in sorted(per_pass.items()):
        bits = TARGETS[target][2]
        for machine in MACHINES_FOR.get(target, []):
            r = cycles_per_vector(ops, macro, machine, bits, vectors)
            if r is None:
                continue
            per_pass_bound[(target, tname, pname, machine)] = r[0]
            if args.pipes:
                print(f"  {target:7s} {tname:5s} {pname:17s} {machine:11s} {r[0]:6.2f} ({r[1]})  {pipe_summary(r[2])}")
    if not args.pipes:
        print("  (--pipes prints them)")

    print("\nBound per algorithm (cycles per element; each pass's cycles per vector and binding resource):")
    bounds = {}  # (target, type, algorithm, machine) -> cycles per element
    for target, tname, alg, machine, per_element, instr, why in algorithm_bounds(per_pass):
        bounds[(target, tname, alg, machine)] = per_element
        print(f"  {target:7s} {tname:5s} {alg:22s} {machine:11s} {per_element:6.3f} c/elem "
              f"({instr:.1f} macro-ops/vector) " + " ".join(why))

    if args.bench:
        report_measured(args.bench, bounds, per_pass_bound, args.machine or this_machine())


def this_machine():
    """The model of the CPU this runs on, from /proc/cpuinfo (zen5 if unknown)."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return "zen5"
    vendor = re.search(r"vendor_id\s*:\s*(\S+)", info)
    family = re.search(r"cpu family\s*:\s*(\d+)", info)
    model = re.search(r"model\s*:\s*(\d+)", info)
    if vendor and vendor.group(1) == "AuthenticAMD" and family:
        f, mo = int(family.group(1)), int(model.group(1)) if model else 0
        if f == 26:
            return "zen5"
        if f == 25:
            return "zen4" if (0x10 <= mo <= 0x1f or 0x60 <= mo <= 0x7f or 0xa0 <= mo <= 0xaf) else "zen3"
    if vendor and vendor.group(1) == "GenuineIntel":
        return "icelake"
    return "zen5"


def median_ns(b):
    return b["cpu_time"] * {"us": 1e3, "ms": 1e6, "ns": 1.0, "s": 1e9}[b["time_unit"]]


def report_measured(path, bounds, per_pass_bound, machine):
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
          f"against the {machine} bound, clock {ghz:.2f} GHz (cpu_clock: a chain of dependent adds):")
    print(f"  {'kernel':52s} {'ns/elem':>8s} {'bound':>8s} {'bound/t':>8s}")
    lanes = {t: TARGETS[t][1] for t in TARGETS}

    def order(item):
        name = item[0]
        m = re.match(r"(.*)/(\d+)$", name)
        return (m.group(1), int(m.group(2))) if m else (name, 0)
    for name, b in sorted(rows.items(), key=order):
        m = re.match(r"softmax/(avx2|avx512)/([a-z_]+(?:\+[a-z]+)?)/(\d+)$", name)
        pm = re.match(r"softmax_pass/(avx2|avx512)/([a-z_]+)/(\d+)$", name)
        if m:
            target, alg, n = m.group(1), m.group(2), int(m.group(3))
            key = (target, "f32", alg, machine)
            if n > (1 << 20) or key not in bounds:
                continue
            bound_ns = bounds[key] / ghz
        elif pm:
            target, pname, n = pm.group(1), pm.group(2), int(pm.group(3))
            # The two-pass reduction runs the max loop and its own loop on each leaf.
            loops = ["max", pname] if pname == "two_pass_sum" else [pname]
            keys = [(target, "f32", p, machine) for p in loops]
            if n > (1 << 20) or not all(k in per_pass_bound for k in keys):
                continue
            bound_ns = sum(per_pass_bound[k] for k in keys) / lanes[target] / ghz
        else:
            continue
        ns = median_ns(b) / n
        print(f"  {name:52s} {ns:8.3f} {bound_ns:8.3f} {bound_ns / ns:8.2f}")
    calls = sorted(((name, b) for name, b in rows.items() if name.startswith("softmax_call/")), key=order)
    if calls:
        print("\nPer call (softmax_call rows: the whole call on a row in L1):")
        for name, b in calls:
            ns = median_ns(b)
            print(f"  {name:52s} {ns:9.1f} ns  {ns * ghz:8.0f} cycles")


if __name__ == "__main__":
    main()
