"""Kernel benchmark (issue 6, item 2): batch norm and layer norm, forward + backward.

    .venv/bin/python benchmarks/bench_kernels.py [--repeats N] [--quick] [--regime warm|cold|both]
                                                 [--clock cpu|wall] [--profile]

At (N, D) = (256, 4096), in float64 and float32, side by side in one process:

* the reference, ``solutions.layers``: batchnorm_forward + batchnorm_backward, batchnorm_forward +
  batchnorm_backward_alt, layernorm_forward + layernorm_backward (and the two batch-norm backward
  passes alone, for the "alt is faster" target);
* ``plain_*``: the textbook formulas written plainly in NumPy (x.mean, x.var, (x - mu) /
  np.sqrt(var + eps), the closed-form backward), as a baseline with no care for speed;
* ``candidate_*``: proposed changes to solutions/layers.py, prototyped here (see README.md; the
  layer-norm one, in place, was adopted in d95f538 and is the reference now), and
  ``sketch_bn_fwd_bwd``, not a proposal: a rewrite with fewer passes, to show how far NumPy
  could go at all;
* PyTorch, when importable: F.batch_norm / F.layer_norm with autograd (forward, out.backward(dout),
  grads on x, weight, bias), on CPU with 1 thread (NumPy's elementwise ops, reductions and einsum
  are single-threaded) and, for information, with torch's default thread count;
* the floor: np.copyto(dst, x) of one (N, D) array, the memory-bandwidth scale.

Before any timing, every method's outputs and gradients are checked against a float64 evaluation of
the textbook formulas; the script stops if one disagrees, so nothing wrong is ever timed.

Allocator regimes (glibc only; elsewhere the allocator is left alone and one table is printed).
Each call allocates several (N, D) temporaries: 8 MB in float64, 4 MB in float32. Whether glibc
hands back recycled heap memory or fresh pages that must be page-faulted in depends on what the
process did before, and that can double a NumPy timing from one process to the next. So the
allocator is put into a known state, and both states are measured:

* warm: heap trimming is switched off (mallopt), so temporaries reuse memory already faulted in.
  Compute and memory traffic only; reproducible.
* cold: additionally malloc_trim(0) runs (untimed) before every call, so every temporary starts
  as fresh pages, as in a fresh process or after other code returned its memory to the OS.

The faults/call column (minor page faults per call, measured after timing) shows which is which.
TARGET lines are printed for each regime. In both, an untimed random-size allocation before every
call moves the next call's arrays around (see LayoutJitter), so that no method is stuck for the
whole run with an unlucky array layout.

Clock: CPU time of the process by default (time.process_time, user + system, so page faults
count). Everything in the main table runs on one thread, where CPU time and elapsed time measure
the same work, but CPU time does not count the time the process waits while other jobs use the
CPUs, which on a loaded 2-core machine is most of the noise. --clock wall switches to elapsed time.
PyTorch with its default thread count is timed separately, in wall time (CPU time would add up
its threads), after the main table: its idle OpenMP workers spin for a while after each call and
would slow down whatever ran next.

--profile adds a line profile: each statement of the reference kernels timed on its own.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _timing import interleaved, paired_ratio  # noqa: E402

from solutions import layers as L  # noqa: E402

N, D = 256, 4096
EPS = 1e-5
DTYPES = (np.float64, np.float32)
# Targets: reference fwd+bwd time / PyTorch CPU (1 thread) time.
TARGET_VS_TORCH = {np.float64: 1.0, np.float32: 1.5}
# Agreement with the float64 textbook result, relative to the largest magnitude of each output.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}

try:
    import torch
except ImportError:  # torch is optional: the rows and targets that need it are skipped
    torch = None
TORCH_DEFAULT_THREADS = torch.get_num_threads() if torch is not None else None


# --------------------------------------------------------------------------------------------------
# Methods. Each takes (x, gamma, beta, dout) and returns (out, dx, dgamma, dbeta).
# --------------------------------------------------------------------------------------------------


def ref_bn_fwd_bwd(x, gamma, beta, dout):
    out, cache = L.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": EPS})
    return (out, *L.batchnorm_backward(dout, cache))


def ref_bn_fwd_bwd_alt(x, gamma, beta, dout):
    out, cache = L.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": EPS})
    return (out, *L.batchnorm_backward_alt(dout, cache))


def ref_ln_fwd_bwd(x, gamma, beta, dout):
    out, cache = L.layernorm_forward(x, gamma, beta, {"eps": EPS})
    return (out, *L.layernorm_backward(dout, cache))


def plain_bn_fwd_bwd(x, gamma, beta, dout):
    """Textbook batch norm, written plainly."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + EPS)
    out = gamma * x_hat + beta
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma / np.sqrt(var + EPS) / n * (n * dout - dbeta - x_hat * dgamma)
    return out, dx, dgamma, dbeta


def plain_ln_fwd_bwd(x, gamma, beta, dout):
    """Textbook layer norm, written plainly."""
    d = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + EPS)
    out = gamma * x_hat + beta
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = (
        1.0 / np.sqrt(var + EPS) / d
        * (d * dx_hat - dx_hat.sum(axis=1, keepdims=True)
           - x_hat * (dx_hat * x_hat).sum(axis=1, keepdims=True))
    )
    return out, dx, dgamma, dbeta


# CANDIDATES: proposed edits to solutions/layers.py, kept as close to the reference as possible
# so that the numbers isolate the edit. Each lists, line by line, what differs from the reference.


def candidate_bn_forward(x, gamma, beta, eps=EPS):
    """batchnorm_forward (train mode) with one edit: ``out = gamma * x_hat + beta`` becomes
    ``out = x_hat * gamma; out += beta`` (one (N, D) temporary fewer; bit-identical)."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    xc = x - mean
    var = np.einsum("nd,nd->d", xc, xc) / n
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    out = x_hat * gamma  # was: out = gamma * x_hat + beta
    out += beta
    return out, (xc, var, inv_std, x_hat, gamma, eps)


def candidate_bn_backward_alt(dout, cache):
    """batchnorm_backward_alt with the closed form evaluated in place, same operations in the same
    order (bit-identical): ``dx = (gamma * inv_std / N) * (N * dout - dbeta - x_hat * dgamma)``
    becomes ``dx = N * dout; dx -= dbeta; dx -= x_hat * dgamma; dx *= gamma * inv_std / N``."""
    xc, var, inv_std, x_hat, gamma, eps = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    dx = n * dout
    dx -= dbeta
    dx -= x_hat * dgamma
    dx *= gamma * inv_std / n
    return dx, dgamma, dbeta


def candidate_bn_fwd_bwd(x, gamma, beta, dout):
    """CANDIDATE, tried and NOT proposed: candidate_bn_forward + candidate_bn_backward_alt (both
    bit-identical). Its effect is within the noise, and sometimes negative (see README)."""
    out, cache = candidate_bn_forward(x, gamma, beta)
    return (out, *candidate_bn_backward_alt(dout, cache))


def sketch_bn_fwd_bwd(x, gamma, beta, dout):
    """NOT A PROPOSAL: how far a NumPy rewrite could go. Caches (xc, inv_std) instead of x_hat,
    folds gamma, inv_std and 1/N into (D,) vectors, and so makes 11 passes over (N, D) arrays
    instead of the reference's 13. Changes the cache, which batchnorm_backward, the spatial
    version and tests (tests/autograder/judging/test_checks.py,
    tests/autograder/judging/test_cases.py) unpack as a 6-tuple, and the results by rounding."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    xc = x - mean
    inv_std = 1.0 / np.sqrt(np.einsum("nd,nd->d", xc, xc) / n + EPS)
    scale = gamma * inv_std
    out = xc * scale
    out += beta
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, xc) * inv_std
    dx = dout - dbeta / n
    dx *= scale
    dx -= xc * (scale * inv_std * dgamma / n)
    return out, dx, dgamma, dbeta


def make_torch(kind, x, gamma, beta, dout, threads):
    """F.batch_norm / F.layer_norm forward + autograd backward; returns (call, results)."""
    F = torch.nn.functional
    xt = torch.from_numpy(x).requires_grad_()
    gt = torch.from_numpy(gamma).requires_grad_()
    bt = torch.from_numpy(beta).requires_grad_()
    dt = torch.from_numpy(dout)

    def call():
        torch.set_num_threads(threads)  # ~0.2 us; torch's setting is global, so set it per call
        xt.grad = gt.grad = bt.grad = None
        if kind == "bn":
            out = F.batch_norm(xt, None, None, gt, bt, training=True, eps=EPS)
        else:
            out = F.layer_norm(xt, (x.shape[1],), gt, bt, eps=EPS)
        out.backward(dt)
        return out

    def results():
        out = call()
        return (out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy())

    return call, results


# --------------------------------------------------------------------------------------------------
# Set-up, checks
# --------------------------------------------------------------------------------------------------


def make_inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (3.0 + 2.0 * rng.standard_normal((N, D))).astype(dtype)  # non-zero mean, non-unit scale
    gamma = (1.0 + 0.1 * rng.standard_normal(D)).astype(dtype)
    beta = (0.1 * rng.standard_normal(D)).astype(dtype)
    dout = rng.standard_normal((N, D)).astype(dtype)
    return x, gamma, beta, dout


def build_methods(dtype):
    """{name: (kind, call, results)} for one dtype; kind is 'bn', 'ln' or 'floor'."""
    x, gamma, beta, dout = make_inputs(dtype)
    methods = {}

    def numpy_method(kind, fn):
        return kind, (lambda: fn(x, gamma, beta, dout)), (lambda: fn(x, gamma, beta, dout))

    for fn in (ref_bn_fwd_bwd, ref_bn_fwd_bwd_alt, candidate_bn_fwd_bwd, sketch_bn_fwd_bwd,
               plain_bn_fwd_bwd):
        methods[fn.__name__] = numpy_method("bn", fn)
    for fn in (ref_ln_fwd_bwd, plain_ln_fwd_bwd):
        methods[fn.__name__] = numpy_method("ln", fn)

    # The two batch-norm backward passes alone, on one cache (neither changes its cache).
    _, cache = L.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": EPS})
    methods["ref_bn_bwd_only"] = ("bwd", lambda: L.batchnorm_backward(dout, cache), None)
    methods["ref_bn_bwd_alt_only"] = ("bwd", lambda: L.batchnorm_backward_alt(dout, cache), None)

    if torch is not None:
        for kind in ("bn", "ln"):
            call, results = make_torch(kind, x, gamma, beta, dout, 1)
            methods[f"torch_{kind}_1t"] = (kind, call, results)

    dst = np.empty_like(x)
    methods["floor_copyto"] = ("floor", lambda: np.copyto(dst, x), None)
    return methods


def truth(kind, dtype):
    """float64 textbook result for the (rounded) inputs of ``dtype``."""
    x, gamma, beta, dout = (a.astype(np.float64) for a in make_inputs(dtype))
    fn = plain_bn_fwd_bwd if kind == "bn" else plain_ln_fwd_bwd
    return fn(x, gamma, beta, dout)


def check_numerics(methods_by_dtype):
    """Every method agrees with the float64 truth; return the candidates' bit-identity notes."""
    names = ("out", "dx", "dgamma", "dbeta")
    notes, failures = [], []
    for dtype, methods in methods_by_dtype.items():
        tol = TOLERANCE[dtype]
        expected = {kind: truth(kind, dtype) for kind in ("bn", "ln")}
        got = {}
        for name, (kind, _, results) in methods.items():
            if results is None:
                continue
            got[name] = res = [np.asarray(a) for a in results()]
            for label, a, t in zip(names, res, expected[kind], strict=True):
                scale = np.abs(t).max()
                if a.dtype != dtype or a.shape != t.shape:
                    failures.append(f"{name} {dtype.__name__} {label}: "
                                    f"{a.dtype}{a.shape}, expected {dtype.__name__}{t.shape}")
                elif not np.allclose(a, t, rtol=tol, atol=tol * scale):
                    err = np.abs(a - t).max() / scale
                    failures.append(f"{name} {dtype.__name__} {label}: max error {err:.2e} of "
                                    f"max |value|, tolerance {tol:.0e}")
        for name, ref in (("candidate_bn_fwd_bwd", "ref_bn_fwd_bwd_alt"),):
            same = all(np.array_equal(a, b) for a, b in zip(got[name], got[ref], strict=True))
            notes.append(f"{name} {dtype.__name__}: "
                         + ("bit-identical to " if same else "NOT bit-identical to ") + ref)
        # Gradient of the staged and the closed-form backward must agree too.
        for a, b in zip(got["ref_bn_fwd_bwd"], got["ref_bn_fwd_bwd_alt"], strict=True):
            if not np.allclose(a, b, rtol=tol, atol=tol * np.abs(b).max()):
                failures.append(f"batchnorm_backward and _alt disagree in {dtype.__name__}")
    if failures:
        print("NUMERICS CHECK FAILED; nothing timed:", *failures, sep="\n  ")
        sys.exit(1)
    n_checked = sum(1 for m in methods_by_dtype.values() for v in m.values() if v[2] is not None)
    print(f"numerics: {n_checked} method/dtype pairs agree with a float64 textbook evaluation "
          f"(out, dx, dgamma, dbeta; rel. tol {TOLERANCE[np.float64]:.0e} in float64, "
          f"{TOLERANCE[np.float32]:.0e} in float32; dtypes and shapes preserved)")
    for note in notes:
        print("  " + note)


# --------------------------------------------------------------------------------------------------
# Allocator regimes (glibc)
# --------------------------------------------------------------------------------------------------

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h


def glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def keep_heap(libc):
    """Never trim the heap; serve every (N, D) array from it (fixed mmap threshold 32 MB)."""
    ok = libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    if not ok:
        raise RuntimeError("mallopt refused the settings")


class LayoutJitter:
    """Untimed hook: hold a fresh block of random size (0 to 64 KiB) from the allocator, so the
    arrays of the next call start at a different address each round.

    Why: on this machine's AMD CPU a broadcast op such as ``np.subtract(x, row, out=y)`` in
    float64 ran about 5x slower (5.3 ms instead of 1 ms) for particular relative positions of
    the three arrays (found by sweeping the (D,) operand's address; see README). Allocation is
    deterministic, so without jitter a method that lands on such a layout pays for it in every
    round; with jitter it pays in a few rounds, which the median ignores."""

    def __init__(self, seed=0, then=None):
        self.rng = random.Random(seed)
        self.then = then
        self.block = None

    def __call__(self):
        self.block = None
        if self.then is not None:
            self.then()
        self.block = bytearray(16 * self.rng.randrange(4096))


def faults_per_call(call, before, calls=3):
    total = 0
    for _ in range(calls):
        if before is not None:
            before()
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        call()
        total += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
    return total / calls


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------

TORCH_OF_KIND = {"bn": "torch_bn_1t", "ln": "torch_ln_1t"}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def run_regime(regime, methods_by_dtype, repeats, warmup, before, clock):
    calls = {(name, dtype): call
             for dtype, methods in methods_by_dtype.items()
             for name, (_, call, _) in methods.items()}
    keys = list(calls)
    timings = interleaved({i: calls[k] for i, k in enumerate(keys)}, repeats=repeats,
                          warmup=warmup, before=before, clock=CLOCKS[clock])
    timings = {k: timings[i] for i, k in enumerate(keys)}
    faults = {k: faults_per_call(calls[k], before) for k in keys}

    print(f"\n=== regime: {regime}; {clock} time; {repeats} interleaved rounds; "
          "median and IQR in ms ===")
    header = (f"{'method':30s} {'dtype':8s} {'median ms':>10s} {'IQR':>7s} "
              f"{'x torch1t':>10s} {'x floor':>8s} {'faults/call':>12s}")
    print(header)
    print("-" * len(header))
    ratios = {}
    for dtype, methods in methods_by_dtype.items():
        floor = timings[("floor_copyto", dtype)].median
        for name, (kind, _, _) in methods.items():
            t = timings[(name, dtype)]
            torch_key = (TORCH_OF_KIND.get(kind), dtype)
            vs_torch = t.median / timings[torch_key].median if torch_key in timings else None
            ratios[(name, dtype)] = vs_torch
            print(f"{name:30s} {dtype.__name__:8s} {t.median * 1e3:10.3f} {t.iqr * 1e3:7.3f} "
                  f"{_fmt_ratio(vs_torch):>10s} {t.median / floor:8.1f} "
                  f"{faults[(name, dtype)]:12.0f}")
        print()
    return timings, ratios


def torch_threads_info(repeats, warmup):
    """For information: PyTorch with its default thread count against 1 thread (wall time).

    Timed apart from the main table because idle OpenMP workers keep spinning for a while after
    a multi-threaded call and would slow down whatever runs next on a 2-core machine."""
    if torch is None or TORCH_DEFAULT_THREADS == 1:
        return
    fns = {}
    for dtype in DTYPES:
        x, gamma, beta, dout = make_inputs(dtype)
        for kind in ("bn", "ln"):
            for threads in (1, TORCH_DEFAULT_THREADS):
                fns[(kind, dtype, threads)] = make_torch(kind, x, gamma, beta, dout, threads)[0]
    keys = list(fns)
    timings = interleaved({i: fns[k] for i, k in enumerate(keys)}, repeats=repeats,
                          warmup=warmup)
    timings = {k: timings[i] for i, k in enumerate(keys)}
    torch.set_num_threads(1)
    n = TORCH_DEFAULT_THREADS
    print(f"\n=== for information: PyTorch with its default {n} threads vs 1 thread; wall time; "
          f"{repeats} interleaved rounds ===")
    for dtype in DTYPES:
        for kind in ("bn", "ln"):
            one, many = timings[(kind, dtype, 1)], timings[(kind, dtype, n)]
            print(f"torch_{kind} {dtype.__name__:8s} 1 thread {one.ms():28s} {n} threads "
                  f"{many.ms():28s} ({many.median / one.median:.2f}x)")


def line_profile(repeats, warmup, clock):
    """Each statement of the reference's train-mode kernels timed on its own (interleaved), on the
    intermediates of one real call, next to the whole call and the copy floor."""
    print(f"\n=== line profile of solutions.layers (warm; {clock} time; {repeats} rounds; "
          "ms per statement; new = allocates an (N, D) array; new* = would work in place "
          "inside the real expression if NumPy's temporary elision were active) ===")
    for dtype in DTYPES:
        groups, floor_fn = _profile_groups(dtype)
        fns = {("floor", None): floor_fn}
        for group, (whole, lines) in groups.items():
            fns[(group, None)] = whole
            for label, fn in lines:
                fns[(group, label)] = fn
        keys = list(fns)
        timings = interleaved({i: fns[k] for i, k in enumerate(keys)}, repeats=repeats,
                              warmup=warmup, clock=CLOCKS[clock], before=LayoutJitter())
        timings = {k: timings[i] for i, k in enumerate(keys)}
        floor = timings[("floor", None)].median
        print(f"\n{dtype.__name__}: floor (np.copyto of one (N, D) array) {floor * 1e3:.3f} ms")
        for group, (_, lines) in groups.items():
            whole = timings[(group, None)].median
            total = sum(timings[(group, label)].median for label, _ in lines
                        if "(candidate)" not in label)
            print(f"  {group}: whole call {whole * 1e3:.3f} ms ({whole / floor:.1f}x floor); "
                  f"sum of its statements {total * 1e3:.3f} ms")
            for label, _ in lines:
                t = timings[(group, label)].median
                print(f"    {label:50s} {t * 1e3:7.3f} ms  {t / floor:5.1f}x floor")


def _profile_groups(dtype):
    """{group: (whole call, [(statement label, call)])} for the line profile, and the floor."""
    x, gamma, beta, dout = make_inputs(dtype)
    n, d = x.shape
    # batch norm intermediates, as in batchnorm_forward / batchnorm_backward_alt
    mean = x.mean(axis=0)
    xc = x - mean
    var = np.einsum("nd,nd->d", xc, xc) / n
    inv_std = 1.0 / np.sqrt(var + EPS)
    x_hat = xc * inv_std
    dbeta = dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", dout, x_hat)
    cache = (xc, var, inv_std, x_hat, gamma, EPS)
    t1 = n * dout
    t2 = x_hat * dgamma
    # layer norm intermediates, as in layernorm_forward / layernorm_backward (which update x_hat
    # and dx in place: those statements write into ``buf`` here)
    lmean = x.mean(axis=1, keepdims=True)
    lxc = x - lmean
    lvar = np.einsum("nd,nd->n", lxc, lxc)[:, None] / d
    linv = 1.0 / np.sqrt(lvar + EPS)
    lx_hat = lxc * linv
    dx_hat = dout * gamma
    ls1 = dx_hat.sum(axis=1, keepdims=True)
    ls2 = np.einsum("nd,nd->n", dx_hat, lx_hat)[:, None]
    lt1 = d * dx_hat
    lt2 = lx_hat * ls2
    dst = np.empty_like(x)
    buf = np.empty_like(x)  # where the in-place statements write (same traffic as in place)
    groups = {
        "batchnorm_forward (train)": (
            lambda: L.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": EPS}), [
                ("mean = x.mean(axis=0)", lambda: x.mean(axis=0)),
                ("xc = x - mean                 new", lambda: x - mean),
                ("var = einsum('nd,nd->d', xc, xc)", lambda: np.einsum("nd,nd->d", xc, xc)),
                ("x_hat = xc * inv_std          new", lambda: xc * inv_std),
                ("out = gamma * x_hat + beta    new x2", lambda: gamma * x_hat + beta),
                ("  (candidate) out = x_hat * gamma; out += beta",
                 lambda: _mul_add(x_hat, gamma, beta)),
            ]),
        "batchnorm_backward_alt": (lambda: L.batchnorm_backward_alt(dout, cache), [
            ("dbeta = dout.sum(axis=0)", lambda: dout.sum(axis=0)),
            ("dgamma = einsum('nd,nd->d', dout, x_hat)",
             lambda: np.einsum("nd,nd->d", dout, x_hat)),
            ("  N * dout                    new", lambda: n * dout),
            ("  (...) - dbeta               new*", lambda: t1 - dbeta),
            ("  x_hat * dgamma              new", lambda: x_hat * dgamma),
            ("  (...) - (...)               new*", lambda: t1 - t2),
            ("  (gamma * inv_std / N) * (...)  new*",
             lambda: (gamma * inv_std / n) * t1),
        ]),
        "layernorm_forward": (lambda: L.layernorm_forward(x, gamma, beta, {"eps": EPS}), [
            ("mean = x.mean(axis=1)", lambda: x.mean(axis=1, keepdims=True)),
            ("xc = x - mean                 new", lambda: x - lmean),
            ("var = einsum('nd,nd->n', xc, xc)", lambda: np.einsum("nd,nd->n", lxc, lxc)),
            ("x_hat = xc; x_hat *= inv_std  in place",
             lambda: np.multiply(lxc, linv, out=buf)),
            ("out = x_hat * gamma; out += beta  new",
             lambda: _mul_add(lx_hat, gamma, beta)),
        ]),
        "layernorm_backward": (lambda: L.layernorm_backward(dout, (lx_hat, linv, gamma)), [
            ("dbeta = dout.sum(axis=0)", lambda: dout.sum(axis=0)),
            ("dgamma = einsum('nd,nd->d', dout, x_hat)",
             lambda: np.einsum("nd,nd->d", dout, lx_hat)),
            ("dx_hat = dout * gamma         new", lambda: dout * gamma),
            ("  sum_dx_hat = dx_hat.sum(axis=1)", lambda: dx_hat.sum(axis=1, keepdims=True)),
            ("  dot = einsum('nd,nd->n', dx_hat, x_hat)",
             lambda: np.einsum("nd,nd->n", dx_hat, lx_hat)),
            ("  dx = dx_hat; dx *= D        in place", lambda: np.multiply(dx_hat, d, out=buf)),
            ("  dx -= sum_dx_hat            in place", lambda: np.subtract(lt1, ls1, out=buf)),
            ("  x_hat * dot                 new", lambda: lx_hat * ls2),
            ("  dx -= (...)                 in place", lambda: np.subtract(lt1, lt2, out=buf)),
            ("  dx *= inv_std / D           in place",
             lambda: np.multiply(lt1, linv / d, out=buf)),
        ]),
    }
    return groups, (lambda: np.copyto(dst, x))


def _mul_add(a, b, c):
    out = a * b
    out += c
    return out


def _fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def print_targets(regime, timings, ratios):
    print(f"TARGETS ({regime}):")
    for dtype in DTYPES:
        limit = TARGET_VS_TORCH[dtype]
        for name in ("ref_bn_fwd_bwd", "ref_bn_fwd_bwd_alt", "ref_ln_fwd_bwd"):
            r = ratios[(name, dtype)]
            what = f"{name} {dtype.__name__} <= {limit:.1f}x PyTorch CPU (1 thread)"
            if r is None:
                print(f"  TARGET {what}: SKIP (torch not importable)")
            else:
                print(f"  TARGET {what}: {'PASS' if r <= limit else 'MISS'} ({r:.2f}x)")
    for dtype in DTYPES:
        alt = timings[("ref_bn_bwd_alt_only", dtype)].median
        staged = timings[("ref_bn_bwd_only", dtype)].median
        both = (timings[("ref_bn_fwd_bwd_alt", dtype)].median
                / timings[("ref_bn_fwd_bwd", dtype)].median)
        print(f"  TARGET batchnorm_backward_alt faster than batchnorm_backward {dtype.__name__}: "
              f"{'PASS' if alt < staged else 'MISS'} (alt/staged {alt / staged:.2f}x backward "
              f"only; {both:.2f}x with the forward)")


PAIRS = (  # (method, baseline, what it shows)
    ("candidate_bn_fwd_bwd", "ref_bn_fwd_bwd_alt", "tried, not proposed: batch norm in place"),
    ("sketch_bn_fwd_bwd", "ref_bn_fwd_bwd_alt", "not proposed: 11-pass batch norm"),
    ("ref_bn_bwd_alt_only", "ref_bn_bwd_only", "batchnorm_backward_alt vs batchnorm_backward"),
)


def print_pairs(regime, timings):
    print(f"PAIRED RATIOS ({regime}; method / baseline per round: median [q1, q3]):")
    for dtype in DTYPES:
        for name, base, what in PAIRS:
            median, q1, q3 = paired_ratio(timings[(name, dtype)], timings[(base, dtype)])
            print(f"  {name} / {base} {dtype.__name__}: {median:.2f} [{q1:.2f}, {q3:.2f}]"
                  f"  ({what})")


def temporary_elision_active():
    """Whether NumPy reuses the buffer of a temporary in ``a * b + c`` (its "temporary elision",
    which depends on the Python build). Measured: the peak memory of the expression."""
    import tracemalloc

    a = np.ones((64, 4096))  # 2 MB, above NumPy's 256 KiB threshold for elision
    b = np.ones(4096)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        _ = a * b + b
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak < 1.5 * a.nbytes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved rounds per regime (default 41; 5 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="few rounds, for a smoke test; the numbers are not meaningful")
    parser.add_argument("--regime", choices=("warm", "cold", "both"), default="both",
                        help="allocator regime(s) to time (glibc only; default both)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="cpu",
                        help="cpu (default): CPU time of the process, steady when other jobs "
                        "load the machine; wall: elapsed time. Every method in the main table "
                        "runs on one thread, so both measure the same work")
    parser.add_argument("--profile", action="store_true",
                        help="also time each statement of the reference kernels on its own")
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 41)
    warmup = 1 if args.quick else 2

    print(f"bench_kernels: batch norm and layer norm fwd+bwd at (N, D) = ({N}, {D})")
    print(f"numpy {np.__version__}; "
          + (f"torch {torch.__version__} (default {TORCH_DEFAULT_THREADS} threads)"
             if torch is not None else "torch not importable: PyTorch rows and targets skipped")
          + f"; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    print("NumPy side single-threaded (elementwise ufuncs, reductions, einsum without BLAS)"
          + ("; PyTorch timed with 1 thread, and with its default for information."
             if torch is not None else "."))
    print("NumPy temporary elision (a * b + c reusing the buffer of a * b): "
          + ("active" if temporary_elision_active() else
             "INACTIVE here: every intermediate of an expression is a fresh array"))

    methods_by_dtype = {dtype: build_methods(dtype) for dtype in DTYPES}
    check_numerics(methods_by_dtype)

    libc = glibc()
    if libc is None:
        print("\nnot glibc: allocator left as it is (one 'default' regime)")
        regimes = [("default", LayoutJitter())]
    else:
        keep_heap(libc)
        warm = ("warm", LayoutJitter())
        cold = ("cold", LayoutJitter(then=lambda: libc.malloc_trim(0)))
        regimes = {"warm": [warm], "cold": [cold], "both": [warm, cold]}[args.regime]

    results = [(regime, *run_regime(regime, methods_by_dtype, repeats, warmup, before,
                                    args.clock))
               for regime, before in regimes]
    torch_threads_info(max(5, repeats // 3), warmup)
    if args.profile:
        line_profile(repeats, warmup, args.clock)
    print()
    for regime, timings, ratios in results:
        print_targets(regime, timings, ratios)
    for regime, timings, _ in results:
        print_pairs(regime, timings)
    if args.quick:
        print("(--quick: too few rounds for the numbers to mean much)")


if __name__ == "__main__":
    main()
