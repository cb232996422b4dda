/* An echo chat over a WebSocket: connects (offering the subprotocol
 * "chat" and permessage-deflate), sends each message as text, reads the
 * echo, pings, sends a binary message, then closes with 1000.
 * Usage: ws_echo URL [MESSAGE...]   (URL is ws:// or wss://; make demo
 * passes the echo server that examples/demo_server.py starts). */
#include <stdio.h>
#include <string.h>

#include "reqivo.h"

static int fail(const char *what, const reqivo_error *err) {
  fprintf(stderr, "%s failed: %s: %s\n", what, reqivo_code_name(err->code), err->message);
  return 1;
}

/* Receives one message and prints it; returns 0 when it is the echo of
 * (kind, data, len). */
static int expect_echo(reqivo_ws *ws, uint32_t kind, const char *data, size_t len) {
  reqivo_error err;
  const reqivo_ws_message *m = reqivo_ws_receive(ws, NULL, &err);
  if (m == NULL) {
    return fail("receive", &err);
  }
  int same = m->kind == kind && m->length == len && memcmp(m->data, data, len) == 0;
  if (m->kind == REQIVO_WS_TEXT) {
    printf("  < %.*s\n", (int)m->length, (const char *)m->data);
  } else if (m->kind == REQIVO_WS_BINARY) {
    printf("  < %zu binary bytes\n", m->length);
  } else {
    printf("  < Close %u %.*s\n", m->close_code, (int)m->close_reason.len, m->close_reason.ptr);
  }
  reqivo_ws_message_free(m);
  return same ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [MESSAGE...]\n", argv[0]);
    return 2;
  }
  const char *url = argv[1];
  static const char *defaults[] = {"hello from C", "how is the echo?", "bye"};
  const char **messages = argc > 2 ? (const char **)argv + 2 : defaults;
  int count = argc > 2 ? argc - 2 : 3;

  reqivo_error err;
  reqivo_session *session = reqivo_session_new(NULL, &err);
  if (session == NULL) {
    return fail("session", &err);
  }
  reqivo_ws_options *opts = reqivo_ws_options_new();
  if (opts == NULL || reqivo_ws_options_add_protocol(opts, "chat", 4, &err) != 0 ||
      reqivo_ws_options_set_deflate(opts, true, false, false, 0) != 0) {
    reqivo_ws_options_free(opts);
    reqivo_session_free(session);
    return fail("options", &err);
  }
  const reqivo_response *refused = NULL;
  reqivo_ws *ws = reqivo_ws_connect(session, url, strlen(url), opts, NULL, &refused, &err);
  reqivo_ws_options_free(opts); /* copied by connect */
  if (ws == NULL) {
    if (refused != NULL) {
      fprintf(stderr, "the server answered %u instead of 101\n", refused->status);
      reqivo_response_free(refused);
    }
    reqivo_session_free(session);
    return fail("connect", &err);
  }
  const reqivo_response *hs = reqivo_ws_response(ws);
  reqivo_str proto = reqivo_ws_protocol(ws);
  printf("connected to %s: %u, subprotocol \"%.*s\"\n", url, hs->status, (int)proto.len, proto.ptr);

  int status = 0;
  for (int i = 0; i < count && status == 0; i++) {
    size_t len = strlen(messages[i]);
    printf("  > %s\n", messages[i]);
    if (reqivo_ws_send(ws, REQIVO_WS_TEXT, (const uint8_t *)messages[i], len, NULL, &err) != 0) {
      status = fail("send", &err);
    } else {
      status = expect_echo(ws, REQIVO_WS_TEXT, messages[i], len);
    }
  }
  if (status == 0) {
    /* The pong is taken in by the next receive. */
    if (reqivo_ws_ping(ws, (const uint8_t *)"ping", 4, NULL, &err) != 0) {
      status = fail("ping", &err);
    } else {
      static const char bytes[] = {0, 1, 2, 3, (char)0xfe, (char)0xff};
      printf("  > ping, then %zu binary bytes\n", sizeof bytes);
      if (reqivo_ws_send(ws, REQIVO_WS_BINARY, (const uint8_t *)bytes, sizeof bytes, NULL, &err) != 0) {
        status = fail("send", &err);
      } else {
        status = expect_echo(ws, REQIVO_WS_BINARY, bytes, sizeof bytes);
      }
    }
  }
  if (reqivo_ws_close(ws, 1000, "done", 4, &err) != 0) {
    status |= fail("close", &err);
  } else {
    printf("closed with 1000 \"done\"\n");
  }
  reqivo_ws_free(ws);
  reqivo_session_free(session);
  if (status != 0) {
    fprintf(stderr, "the echo did not match\n");
  }
  return status;
}
