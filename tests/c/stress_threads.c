/* Threads sharing one session, for valgrind's helgrind (tests/c/run.sh
 * runs it with a short count): THREADS workers send through one session
 * and one pool capped at 2 connections, while the main thread cancels
 * their requests at random, changes a session header and closes idle
 * connections. Every request must end as a success or a cancellation,
 * and the pool's books must balance at the end.
 *
 * Built with -DRACE_SELFTEST, the workers also bump a counter without a
 * lock: helgrind must report that race, which proves its suppressions
 * (tests/c/helgrind.supp) leave the caller's own data checked.
 *
 * usage: stress_threads PORT [REQUESTS_PER_THREAD] */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define THREADS 4

typedef struct worker {
  reqivo_session *session;
  int index;
  long count;
  /* The cancel token of the request in flight; the main thread triggers
   * it under `lock`, and the worker swaps it under `lock`. */
  pthread_mutex_t lock;
  reqivo_cancel *cancel;
  long ok, cancelled, other;
  uint32_t other_code;
} worker;

static atomic_long done_count;
#ifdef RACE_SELFTEST
static long unguarded;
#endif

static void *work(void *arg) {
  worker *w = arg;
  reqivo_error err;
  reqivo_request *req = request_to("GET", (w->index % 2) ? "/ok" : "/chunked", &err);
  if (req == NULL) {
    w->other = w->count;
    w->other_code = err.code;
    return NULL;
  }
  for (long i = 0; i < w->count; i++) {
    pthread_mutex_lock(&w->lock);
    /* Each request gets a token of its own: a triggered one stays so. */
    reqivo_cancel_free(w->cancel);
    w->cancel = reqivo_cancel_new();
    reqivo_cancel *mine = w->cancel;
    pthread_mutex_unlock(&w->lock);
    /* The send holds its own reference, so the token may be replaced and
     * freed by the next iteration while a trigger races with it. */
    const reqivo_response *resp = reqivo_session_send(w->session, req, mine, &err);
    if (resp != NULL && resp->status == 200 && resp->body_len > 0) {
      w->ok++;
    } else if (resp == NULL && err.code == REQIVO_ERR_CANCELLED) {
      w->cancelled++;
    } else {
      w->other++;
      w->other_code = resp == NULL ? err.code : 1u;
    }
    reqivo_response_free(resp);
    atomic_fetch_add(&done_count, 1);
#ifdef RACE_SELFTEST
    unguarded++;
#endif
  }
  reqivo_request_free(req);
  return NULL;
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  long per_thread = argc > 2 ? atol(argv[2]) : 200;
  if (per_thread <= 0) {
    per_thread = 200;
  }
  reqivo_pool_config cfg = reqivo_pool_config_default();
  cfg.max_per_host = 2;
  cfg.max_total = 2;
  cfg.max_idle_ms = 20;
  reqivo_error err;
  reqivo_pool *pool = reqivo_pool_new(&cfg, &err);
  reqivo_session *s = reqivo_session_new(pool, &err);
  CHECK(pool != NULL && s != NULL);
  reqivo_timeout t = {5000, 10000, 10000, 0, 30000};
  reqivo_session_set_timeout(s, t);

  worker workers[THREADS];
  pthread_t threads[THREADS];
  memset(workers, 0, sizeof workers);
  for (int i = 0; i < THREADS; i++) {
    workers[i].session = s;
    workers[i].index = i;
    workers[i].count = per_thread;
    pthread_mutex_init(&workers[i].lock, NULL);
    CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
  }

  /* Meddle until every request is done (bounded: the run.sh timeout kills
   * a hung run, and this loop gives up after 10 minutes regardless). */
  long total = per_thread * THREADS;
  unsigned seed = 12345;
  double deadline = now_ms() + 600000.0;
  for (long round = 1; atomic_load(&done_count) < total && now_ms() < deadline; round++) {
    sleep_ms(2);
    seed = seed * 1103515245u + 12345u;
    worker *victim = &workers[(seed >> 16) % THREADS];
    pthread_mutex_lock(&victim->lock);
    reqivo_cancel_trigger(victim->cancel);
    pthread_mutex_unlock(&victim->lock);
    if (round % 25 == 0) {
      char value[32];
      int n = snprintf(value, sizeof value, "%ld", round);
      CHECK_CODE(reqivo_session_set_header(s, "X-Round", 7, value, (size_t)n, &err), REQIVO_OK);
    }
    if (round % 100 == 0) {
      reqivo_pool_close_idle(pool);
    }
  }
  CHECKF(atomic_load(&done_count) == total, "only %ld of %ld requests done",
         atomic_load(&done_count), total);

  long ok = 0, cancelled = 0, other = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_join(threads[i], NULL) == 0);
    ok += workers[i].ok;
    cancelled += workers[i].cancelled;
    other += workers[i].other;
    CHECKF(workers[i].other == 0, "worker %d: %ld unexpected results, last %s", i,
           workers[i].other, reqivo_code_name(workers[i].other_code));
    reqivo_cancel_free(workers[i].cancel);
    pthread_mutex_destroy(&workers[i].lock);
  }
  CHECK_EQ(ok + cancelled + other, total);
  CHECK(ok > 0);

  reqivo_pool_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  reqivo_pool_get_stats(pool, &st);
  CHECKF(st.in_use == 0 && st.waiting == 0 && st.opened == st.closed + st.idle && st.idle <= 2,
         "opened %llu closed %llu idle %llu in_use %llu waiting %llu",
         (unsigned long long)st.opened, (unsigned long long)st.closed,
         (unsigned long long)st.idle, (unsigned long long)st.in_use,
         (unsigned long long)st.waiting);
  printf("stress_threads: %ld requests on %d threads: %ld ok, %ld cancelled; %llu opened, %llu "
         "reused\n",
         total, THREADS, ok, cancelled, (unsigned long long)st.opened,
         (unsigned long long)st.reused);
  reqivo_session_free(s);
  reqivo_pool_free(pool);
  return check_finish("stress_threads");
}
