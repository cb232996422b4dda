"""Python clients of the benchmark.

    python bench/python/bench.py requests|reqivo MODE URL COUNT [WARM_URL]

requests: one requests.Session (urllib3 keeps the connection alive).
reqivo: Reqivo 0.2.0 from PyPI, reqivo.Session().get() (it sends
Connection: close, so every request opens a connection; it has no
streaming API, so MODE stream is refused). MODE, COUNT and WARM_URL as for
the C clients (bench/clients/common.h). Prints one JSON line; CPU from
resource.getrusage(RUSAGE_SELF) around the measured part.
"""
import ctypes
import gc
import json
import os
import resource
import sys
import time


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


try:
    _mc = ctypes.CDLL(None).malloc_count_get
    _mc_buf = (ctypes.c_uint64 * 4)()
except (AttributeError, OSError):
    _mc = None


def mallocs():
    if _mc is None:
        return None
    _mc(_mc_buf)
    return list(_mc_buf)


def fail(client, e):
    sys.stderr.write("bench.py %s: %r\n" % (client, e))
    print(json.dumps({"client": client, "error": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(1)


def main():
    impl, mode, url, count = sys.argv[1:5]
    warm_url = sys.argv[5] if len(sys.argv) > 5 else None
    client = "py-" + impl
    duration = float(count[:-1]) if count.endswith("s") else None
    n = None if duration else int(count)
    warm = int(os.environ.get("BENCH_WARMUP", "100"))
    ca = os.environ.get("BENCH_CA")

    if impl == "requests":
        import requests

        version = "requests %s (urllib3 %s)" % (requests.__version__, requests.packages.urllib3.__version__)
        s = requests.Session()
        if ca:
            s.verify = ca

        def get(u, close_conn):
            r = s.get(u, headers={"Connection": "close"} if close_conn else None)
            if r.status_code != 200:
                raise RuntimeError("status %d" % r.status_code)
            return r, r.content

        def stream(u):
            total = 0
            with s.get(u, stream=True) as r:
                for chunk in r.iter_content(65536):
                    total += len(chunk)
            return total

    elif impl == "reqivo":
        import reqivo

        version = "Reqivo %s (PyPI)" % reqivo.__version__
        s = reqivo.Session()

        def get(u, close_conn):
            r = s.get(u)
            if r.status_code != 200:
                raise RuntimeError("status %d" % r.status_code)
            return r, r.body

        stream = None
    else:
        sys.exit("unknown client " + impl)

    out = {"client": client, "mode": mode, "lib_version": version}
    done = 0
    nbytes = 0
    try:
        if mode in ("ka", "newconn"):
            close_conn = mode == "newconn"
            for _ in range(min(warm, 10) if close_conn else warm):
                get(url, close_conn)
            m0 = mallocs()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            while True:
                if duration:
                    if done % 16 == 0 and time.monotonic() - t0 >= duration:
                        break
                elif done >= n:
                    break
                nbytes += len(get(url, close_conn)[1])
                done += 1
            t1 = time.monotonic()
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            m1 = mallocs()
        elif mode == "stream":
            if stream is None:
                raise NotImplementedError("Reqivo 0.2.0 has no streaming download (no stream=True)")
            if warm_url:
                for _ in range(3):
                    get(warm_url, False)
            gc.collect()
            with open("/proc/self/clear_refs", "w") as f:  # VmHWM := VmRSS
                f.write("5")
            out["rss_before_kb"] = status_kb("VmRSS")
            out["hwm_before_kb"] = status_kb("VmHWM")
            m0 = mallocs()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            nbytes = stream(url)
            done = 1
            t1 = time.monotonic()
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            m1 = mallocs()
        elif mode == "hold":
            for _ in range(warm):
                get(url, False)
            kept = []
            gc.collect()
            out["rss_before_kb"] = status_kb("VmRSS")
            out["hwm_before_kb"] = status_kb("VmHWM")
            m0 = mallocs()
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            for _ in range(n):
                r, body = get(url, False)
                kept.append(r)
                nbytes += len(body)
                done += 1
            t1 = time.monotonic()
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            m1 = mallocs()
            gc.collect()
            out["kept"] = len(kept)
        else:
            sys.exit("unknown mode " + mode)
    except Exception as e:  # noqa: BLE001 - reported to the driver
        fail(client, e)

    out["n"] = done
    out["secs"] = t1 - t0
    out["utime_us"] = round((r1.ru_utime - r0.ru_utime) * 1e6)
    out["stime_us"] = round((r1.ru_stime - r0.ru_stime) * 1e6)
    out["minflt"] = r1.ru_minflt - r0.ru_minflt
    out["bytes"] = nbytes
    out.setdefault("rss_before_kb", -1)
    out.setdefault("hwm_before_kb", -1)
    out["rss_after_kb"] = status_kb("VmRSS")
    out["hwm_after_kb"] = status_kb("VmHWM")
    if m0 and m1:
        out["mallocs"] = m1[0] - m0[0]
        out["reallocs"] = m1[1] - m0[1]
        out["frees"] = m1[2] - m0[2]
        out["malloc_bytes"] = m1[3] - m0[3]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
