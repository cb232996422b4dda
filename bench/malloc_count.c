/* LD_PRELOAD heap-allocation counter for the benchmark.
 *
 *   cc -O2 -shared -fPIC bench/malloc_count.c -o build/bench/malloc_count.so
 *   LD_PRELOAD=build/bench/malloc_count.so ./client ...
 *
 * Counts malloc, calloc, realloc, the aligned allocators and free, and the
 * bytes requested, forwarding to glibc's __libc_* functions. A client reads
 * the counters in-process through malloc_count_get (looked up with dlsym),
 * so it can count only its measured loop; with MALLOC_COUNT_OUT set the
 * totals are also written to that file at exit ("mallocs reallocs frees
 * bytes"), for programs that cannot call in (Go, Ruby, Python): run them
 * with two request counts and take the difference.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static uint64_t n_malloc, n_realloc, n_free, n_bytes;

#define ADD(v, x) __atomic_fetch_add(&(v), (x), __ATOMIC_RELAXED)

/* out: mallocs (malloc, calloc, aligned), reallocs, frees, bytes requested. */
__attribute__((visibility("default"))) void malloc_count_get(uint64_t out[4]) {
  out[0] = __atomic_load_n(&n_malloc, __ATOMIC_RELAXED);
  out[1] = __atomic_load_n(&n_realloc, __ATOMIC_RELAXED);
  out[2] = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
  out[3] = __atomic_load_n(&n_bytes, __ATOMIC_RELAXED);
}

void *malloc(size_t n) {
  ADD(n_malloc, 1);
  ADD(n_bytes, n);
  return __libc_malloc(n);
}

void *calloc(size_t a, size_t b) {
  ADD(n_malloc, 1);
  ADD(n_bytes, a * b);
  return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n) {
  if (p) ADD(n_realloc, 1); else ADD(n_malloc, 1);
  ADD(n_bytes, n);
  return __libc_realloc(p, n);
}

void free(void *p) {
  if (p) ADD(n_free, 1);
  __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n) {
  ADD(n_malloc, 1);
  ADD(n_bytes, n);
  void *p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void *aligned_alloc(size_t align, size_t n) {
  ADD(n_malloc, 1);
  ADD(n_bytes, n);
  return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n) {
  ADD(n_malloc, 1);
  ADD(n_bytes, n);
  return __libc_memalign(align, n);
}

__attribute__((destructor)) static void malloc_count_report(void) {
  const char *path = getenv("MALLOC_COUNT_OUT");
  if (!path || !*path) return;
  FILE *f = fopen(path, "w");
  if (!f) return;
  fprintf(f, "%llu %llu %llu %llu\n", (unsigned long long)n_malloc, (unsigned long long)n_realloc,
          (unsigned long long)n_free, (unsigned long long)n_bytes);
  fclose(f);
}
