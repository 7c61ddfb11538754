"""scripts/pipe_models.py — the instruction classes and the per-core pipe
models that scripts/instruction_bound.py places a loop's instructions on.

Each model: the vector pipes; for each class, the pipes it may issue on and
the pipe cycles one op takes there (per vector width: `wide`); the memory
ports (load and store ops and bytes per cycle, memory ops per cycle); the
dispatch width (macro-ops per cycle). docs/compute-bound.md tabulates them
with their sources.
"""

# ------------------------------------------------------------ instruction classes
# x86 (AT&T syntax, as objdump prints it). Memory operands are recognised by
# their parentheses; the destination is the last operand.
X86_CLASSES = [
    ("fma", r"^(vfn?m(add|sub)(132|213|231)?p|vmulp|vrcp14p|vrcpp)"),
    ("fadd", r"^(vaddp|vsubp|vaddsubp|vhaddp)"),
    ("fminmax", r"^(vmaxp|vminp)"),
    ("fcmp", r"^(vcmp\w*p[sd]|vfpclassp)"),
    ("round", r"^(vroundp|vrndscalep)"),
    ("scalef", r"^(vscalefp|vgetexpp|vgetmantp|vreducep)"),
    ("fixup", r"^(vfixupimmp|vrangep)"),
    ("cvtnarrow", r"^(vcvtps2ph|vcvtneps2bf16|vcvtpd2ps)"),
    ("cvt", r"^(vcvt)"),
    ("shift", r"^(vpsll|vpsrl|vpsra|vpro[lr])"),
    ("shuffle", r"^(vperm|vpermt|vshuf|vpshuf|vunpck|vpunpck|vpack|vpmov[sz]x|vpmov[a-z]|vinsert|vextract|"
                r"vbroadcast|vpbroadcast|valign|vpalignr|vmovsh|vmovsl|vmovddup|vexpand|vcompress)"),
    ("blendv", r"^(vblendvp|vpblendvb)"),
    ("blend", r"^(vblendmp|vpblendm|vblendp|vpblendd|vpblendw)"),
    ("ialu", r"^(vpadd|vpsub|vpcmp|vpmin|vpmax|vpabs|vpavg|vptestn?m)"),
    ("logic", r"^(vpand|vpor|vpxor|vpternlog|vandp|vandnp|vorp|vxorp)"),
    ("kmask", r"^k"),
]
ARM_CLASSES = [
    ("fma", r"^(fmla|fmls|fmul|fmad|fmsb|fnmla|fnmls|fnmad|fnmsb|frecp)"),
    ("fadd", r"^(fadd|fsub|fabd|faddp)"),
    ("fminmax", r"^(fmax|fmin)"),
    ("fcmp", r"^(fcm|facg|facg)"),
    ("round", r"^(frint)"),
    ("scalef", r"^(fscale)"),
    ("cvt", r"^(fcvt|scvtf|ucvtf|bfcvt)"),
    ("shift", r"^(shl|ushr|sshr|ushl|sshl|ushll|sshll|shrn|rshrn|sli|sri|lsl|lsr|asr|uxtl|sxtl)"),
    ("shuffle", r"^(zip|uzp|trn|ext|tbl|dup|xtn|rev|splice|compact|insr|ins)"),
    ("ialu", r"^(add|sub|cmeq|cmgt|cmge|cmhi|cmhs|cmlt|cmle|umin|umax|smin|smax|abs|neg)"),
    ("logic", r"^(and|orr|eor|bic|bsl|bit|bif|mov|mvn|not|sel|fneg|fabs|movi|orn)"),
]

# ------------------------------------------------------------ core models
# Each model: the vector pipes; for each class, the pipes it may issue on and
# the pipe cycles one op of each width takes there; the memory ports; the
# dispatch width (macro-ops per cycle). Sources: AMD's Software Optimization
# Guides for Zen 3/Zen 4/Zen 5 (as encoded in LLVM's X86ScheduleZnver{3,4,5}
# models) and, for Zen 5, a throughput probe of single and paired 512-bit
# instruction streams on an EPYC Zen 5 (docs/compute-bound.md lists what it
# measured); uops.info and LLVM's IceLake/SkylakeServer models for Intel;
# Arm's Software Optimization Guides for Cortex-A72, Neoverse N1 and V1.
FP01, FP23, FP12, FP0123 = ("FP0", "FP1"), ("FP2", "FP3"), ("FP1", "FP2"), ("FP0", "FP1", "FP2", "FP3")


def zen_classes(shift, minmax, scalef_slots, narrowing_slots=1):
    return {
        "fma": (FP01, 1), "fadd": (FP23, 1), "fminmax": (minmax, 1), "fcmp": (FP01, 1), "round": (FP23, 1),
        "scalef": (FP23, scalef_slots), "fixup": (FP01, 1), "cvt": (FP23, 1), "cvtnarrow": (FP23, narrowing_slots),
        "shift": (shift, 1),
        "shuffle": (FP12, 1), "blendv": (FP01, 1), "blend": (FP0123, 1), "ialu": (FP0123, 1),
        "logic": (FP0123, 1), "kmask": (FP23, 1),
    }


MACHINES = {
    "zen3": dict(
        desc="AMD Zen 3: FMA/mul, FP compare and min/max on FP0/FP1; FP add, convert, round on FP2/FP3; "
             "shifts and shuffles on FP1/FP2; integer and logic on all four; 2 x 256-bit loads and "
             "1 x 256-bit store per cycle, 3 memory ops; 6 macro-ops dispatched per cycle",
        pipes=FP0123, classes=zen_classes(shift=FP12, minmax=FP01, scalef_slots=1),
        wide={256: 1}, mem_ops=3, loads=3, load_bytes=64, stores=2, store_bytes=32, width=6),
    "zen4": dict(
        desc="AMD Zen 4: as Zen 3; a 512-bit op takes its 256-bit pipe for 2 cycles (double-pumped), "
             "and 512-bit immediate shifts issue on FP0/FP1 (the FMA pipes), like min/max and compares; "
             "vscalefps on FP2/FP3; loads and stores as Zen 3 (a 512-bit load is two 256-bit ones)",
        pipes=FP0123, classes=dict(zen_classes(shift=FP12, minmax=FP01, scalef_slots=1),
                                   shift512=(FP01, 1)),
        wide={256: 1, 512: 2}, mem_ops=3, loads=3, load_bytes=64, stores=2, store_bytes=32, width=6),
    "zen5": dict(
        desc="AMD Zen 5 (EPYC): full-width 512-bit pipes; FMA/mul and fixup on FP0/FP1; FP add, min/max, "
             "shifts, round and convert on FP2/FP3 (vscalefps two cycles, narrowing converts one and a half); "
             "compares into a mask on any of the four; "
             "shuffles on FP1/FP2; integer and logic on all four; 2 x 512-bit loads and 1 x 512-bit "
             "store per cycle, 4 memory ops; 8 macro-ops dispatched per cycle",
        pipes=FP0123, classes=dict(zen_classes(shift=FP23, minmax=FP23, scalef_slots=2, narrowing_slots=1.5),
                                   fcmp=(FP0123, 1)),
        wide={256: 1, 512: 1}, mem_ops=4, loads=4, load_bytes=128, stores=2, store_bytes=64, width=8),
    "icelake": dict(
        desc="Intel Ice Lake server (Skylake-X alike): 512-bit FP ops on p0 (p0+p1 fused) and p5, 512-bit "
             "shifts on p0 only, 512-bit shuffles on p5; 256-bit FP and shifts on p0/p1, integer and logic "
             "on p0/p1/p5; 2 loads and 1 store (up to 512 bits) per cycle; 5 wide",
        pipes=("p0", "p1", "p5"),
        classes={"fma": (("p0", "p1"), 1), "fadd": (("p0", "p1"), 1), "fminmax": (("p0", "p1"), 1),
                 "fcmp": (("p0", "p1"), 1), "round": (("p0", "p1"), 2), "scalef": (("p0", "p1"), 1),
                 "fixup": (("p0", "p1"), 1), "cvt": (("p0", "p1", "p5"), 2), "cvtnarrow": (("p0", "p1", "p5"), 2),
                 "shift": (("p0", "p1"), 1),
                 "shuffle": (("p5",), 1), "blendv": (("p0", "p1", "p5"), 2), "blend": (("p0", "p1", "p5"), 1),
                 "ialu": (("p0", "p1", "p5"), 1), "logic": (("p0", "p1", "p5"), 1), "kmask": (("p0",), 1)},
        classes512={"fma": (("p0", "p5"), 1), "fadd": (("p0", "p5"), 1), "fminmax": (("p0", "p5"), 1),
                    "fcmp": (("p5",), 1), "round": (("p0", "p5"), 2), "scalef": (("p0", "p5"), 1),
                    "fixup": (("p0", "p5"), 1), "cvt": (("p0", "p5"), 2), "cvtnarrow": (("p0", "p5"), 2),
                    "shift": (("p0",), 1),
                    "shuffle": (("p5",), 1), "blendv": (("p0", "p5"), 2), "blend": (("p0", "p5"), 1),
                    "ialu": (("p0", "p5"), 1), "logic": (("p0", "p5"), 1), "kmask": (("p0",), 1)},
        wide={256: 1, 512: 1}, mem_ops=4, loads=2, load_bytes=128, stores=1, store_bytes=64, width=5),
    "cortex-a72": dict(
        desc="Arm Cortex-A72: 2 x 128-bit FP/ASIMD pipes (F0, F1) for FMA, add, min/max, integer and "
             "logic; shifts on F1, converts on F0; 1 load and 1 store per cycle; 3 wide",
        pipes=("F0", "F1"),
        classes={c: (("F0", "F1"), 1) for c in ("fma", "fadd", "fminmax", "fcmp", "round", "shuffle",
                                                "ialu", "logic", "scalef")} | {
            "shift": (("F1",), 1), "cvt": (("F0",), 1)},
        wide={128: 1}, mem_ops=2, loads=1, load_bytes=16, stores=1, store_bytes=16, width=3),
    "neoverse-n1": dict(
        desc="Arm Neoverse N1: 2 x 128-bit ASIMD pipes (V0, V1) for FMA, add, min/max, integer and "
             "logic; shifts on V1, converts and rounding on V0; 2 loads and 1 store per cycle; 4 wide",
        pipes=("V0", "V1"),
        classes={c: (("V0", "V1"), 1) for c in ("fma", "fadd", "fminmax", "fcmp", "shuffle", "ialu",
                                                "logic", "scalef")} | {
            "shift": (("V1",), 1), "cvt": (("V0",), 1), "round": (("V0",), 1)},
        wide={128: 1}, mem_ops=2, loads=2, load_bytes=32, stores=1, store_bytes=16, width=4),
    "neoverse-v1": dict(
        desc="Arm Neoverse V1: 4 x 128-bit ASIMD pipes (V0-V3) for FMA, add, min/max, integer and logic; "
             "shifts on V1/V3, converts and rounding on V0/V2; 3 loads and 2 stores per cycle; 8 wide",
        pipes=("V0", "V1", "V2", "V3"),
        classes={c: (("V0", "V1", "V2", "V3"), 1) for c in ("fma", "fadd", "fminmax", "fcmp", "shuffle",
                                                            "ialu", "logic", "scalef")} | {
            "shift": (("V1", "V3"), 1), "cvt": (("V0", "V2"), 1), "round": (("V0", "V2"), 1)},
        wide={128: 1}, mem_ops=5, loads=3, load_bytes=48, stores=2, store_bytes=32, width=8),
}
